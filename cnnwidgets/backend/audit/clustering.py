"""Spectral relevance analysis (SpRAy; Lapuschkin et al., Nature Communications 2019) with scikit-learn.

The maps of one class are normalised to unit mass (each a distribution of
relevance over the image), joined in a k-nearest-neighbour affinity graph
and clustered spectrally; the number of clusters is read from the eigengap
of the graph's normalised Laplacian, as in the paper. A cluster whose mean
map sits far from the class's typical (mean) map is a candidate shortcut:
the clusters are ranked by that distance, half the L1 distance between the
two mass distributions (0: the same, 1: no overlap; read it as the share of
the relevance that sits elsewhere).
"""

import dataclasses

import numpy as np

from ...errors import InvalidParameterError
from ..images import resize_map

__all__ = ["Cluster", "ClassClusters", "spray", "unit_mass"]

_MAX_CLUSTERS = 8


@dataclasses.dataclass
class Cluster:
    """One SpRAy cluster of a class.

    Attributes
    ----------
    rank : int
        0 is the cluster farthest from the class's typical map.
    rows : numpy.ndarray
        Indices of its images in the :class:`AuditResult`.
    mean_map : numpy.ndarray
        ``(h, w)`` mean of its unit-mass maps (sums to 1).
    distance : float
        Half the L1 distance of ``mean_map`` from the class's typical map.
    """

    rank: int
    rows: np.ndarray
    mean_map: np.ndarray
    distance: float

    @property
    def size(self):
        return len(self.rows)

    def share(self, mask):
        """Share of the mean map's mass inside a boolean ``mask`` (any size; the map is resized to it)."""
        mask = np.asarray(mask, bool)
        values = np.clip(resize_map(self.mean_map, mask.shape), 0, None)
        return float(values[mask].sum() / max(values.sum(), 1e-12))


@dataclasses.dataclass
class ClassClusters:
    """The SpRAy analysis of one class.

    Attributes
    ----------
    class_index : int
    rows : numpy.ndarray
        The class's image indices in the result.
    labels : numpy.ndarray
        Cluster rank of each of ``rows``.
    embedding : numpy.ndarray
        ``(len(rows), 2)`` coordinates for display.
    clusters : list of Cluster
        Ranked, farthest from the typical map first.
    typical_map : numpy.ndarray
        Mean unit-mass map of the class.
    eigenvalues : numpy.ndarray
        Smallest eigenvalues of the normalised Laplacian (the eigengap read).
    """

    class_index: int
    rows: np.ndarray
    labels: np.ndarray
    embedding: np.ndarray
    clusters: list
    typical_map: np.ndarray
    eigenvalues: np.ndarray

    @property
    def n_clusters(self):
        return len(self.clusters)

    def cluster_of(self, row):
        """The :class:`Cluster` of image ``row`` of the result."""
        where = np.flatnonzero(self.rows == row)
        if not len(where):
            raise InvalidParameterError(f"image {row} is not in class {self.class_index}'s audit")
        return self.clusters[int(self.labels[where[0]])]


def unit_mass(maps):
    """Flattened maps, negative parts clipped, each scaled to sum 1 (all-zero maps stay zero)."""
    flat = np.clip(np.asarray(maps, np.float64).reshape(len(maps), -1), 0, None)
    return flat / np.maximum(flat.sum(axis=1, keepdims=True), 1e-12)


def _affinity(features, neighbors):
    from sklearn.neighbors import kneighbors_graph

    graph = kneighbors_graph(features, neighbors, mode="connectivity", include_self=False)
    return 0.5 * (graph + graph.T)


def _laplacian_spectrum(affinity, count):
    from scipy.sparse import csgraph, identity
    from scipy.sparse.linalg import eigsh

    laplacian = csgraph.laplacian(affinity, normed=True)
    n = laplacian.shape[0]
    if n <= 600:
        values = np.linalg.eigvalsh(laplacian.toarray())[:count]
    else:  # the largest of 2I - L are the smallest of L, which Lanczos finds fast
        largest = eigsh(2 * identity(n) - laplacian, k=count, which="LA", return_eigenvectors=False)
        values = np.sort(2 - largest)
    return np.clip(values, 0, None)


def _eigengap_clusters(eigenvalues, n):
    top = min(_MAX_CLUSTERS, n - 1, len(eigenvalues) - 1)
    if top < 2:
        return 1
    gaps = np.diff(eigenvalues[: top + 1])  # gaps[k-1] = lambda_k - lambda_{k-1}
    return int(np.argmax(gaps[1:top]) + 2)


def _embed(features, affinity, method, seed):
    n = len(features)
    if method == "spectral":
        import warnings

        from sklearn.manifold import SpectralEmbedding

        with warnings.catch_warnings():  # separate groups (e.g. all-zero maps) are what SpRAy looks for
            warnings.filterwarnings("ignore", message="Graph is not fully connected")
            return SpectralEmbedding(n_components=2, affinity="precomputed",
                                     random_state=seed).fit_transform(affinity)
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(2, perplexity=max(2.0, min(30.0, (n - 1) / 3)), init="pca", random_state=seed).fit_transform(features)
    raise InvalidParameterError(f'embedding must be "spectral" or "tsne", got {method!r}')


def spray(maps, rows, class_index, n_clusters=None, seed=0, embedding="spectral", neighbors=None):
    """Cluster one class's maps ``(n, h, w)`` (SpRAy); see :meth:`AuditResult.clusters`."""
    from sklearn.cluster import SpectralClustering

    maps = np.asarray(maps)
    rows = np.asarray(rows)
    n = len(maps)
    if n == 0:
        raise InvalidParameterError(f"no image of the audit explains class {class_index}; pick one of the audited classes")
    features = unit_mass(maps)
    typical = features.mean(axis=0)
    if n_clusters is not None and not 1 <= int(n_clusters) <= max(n - 1, 1):
        raise InvalidParameterError(f"n_clusters must be between 1 and {max(n - 1, 1)} for {n} images, got {n_clusters}")
    if n < 4:  # too few to cluster: one cluster, a line for display
        labels = np.zeros(n, int)
        coords = np.column_stack([np.arange(n, dtype=float), np.zeros(n)])
        eigenvalues = np.zeros(0)
    else:
        k = neighbors or int(np.clip(round(np.sqrt(n)), 5, 20))
        affinity = _affinity(features, min(int(k), n - 1))
        eigenvalues = _laplacian_spectrum(affinity, min(_MAX_CLUSTERS + 1, n - 1))
        count = int(n_clusters) if n_clusters is not None else _eigengap_clusters(eigenvalues, n)
        if count == 1:
            labels = np.zeros(n, int)
        else:
            import warnings

            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Graph is not fully connected")
                labels = SpectralClustering(count, affinity="precomputed", random_state=seed,
                                            assign_labels="kmeans", n_init=10).fit_predict(affinity)
        coords = _embed(features, affinity, embedding, seed)
    shape = maps.shape[1:]
    found = []
    for label in np.unique(labels):
        members = labels == label
        mean = features[members].mean(axis=0)
        found.append((0.5 * float(np.abs(mean - typical).sum()), label, mean))
    found.sort(key=lambda item: (-item[0], item[1]))
    ranks = np.zeros(int(labels.max()) + 1, int)
    clusters = []
    for rank, (distance, label, mean) in enumerate(found):
        ranks[label] = rank
        clusters.append(Cluster(rank, rows[labels == label], mean.reshape(shape).astype(np.float32), distance))
    return ClassClusters(int(class_index), rows, ranks[labels], np.asarray(coords, np.float32), clusters,
                         typical.reshape(shape).astype(np.float32), np.asarray(eigenvalues))
