"""Interaction data: read a ``user,item[,rating][,timestamp]`` CSV, split it by time, and make
synthetic data with real structure for tests, the README and benchmarks.

Only numpy and the standard library here; no TensorFlow.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo import ZooError, io

COLUMNS = ("user", "item", "rating", "timestamp")


@dataclass
class Interactions:
    """Parallel arrays, one entry per interaction; ``rating``/``timestamp`` may be None."""

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray | None = None
    timestamp: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.user)

    def take(self, index) -> "Interactions":
        return Interactions(*(None if a is None else a[index] for a in self.columns()))

    def columns(self):
        return self.user, self.item, self.rating, self.timestamp

    def rows(self) -> list[list]:
        """JSON-ready rows ``[user, item, rating?, timestamp?]`` (the splits.json form)."""
        present = [a for a in self.columns() if a is not None]
        return [[_plain(a[i]) for a in present] for i in range(len(self))]

    @classmethod
    def from_rows(cls, rows: list[list], has_rating: bool, has_timestamp: bool) -> "Interactions":
        columns = list(zip(*rows)) if rows else [[]] * (2 + has_rating + has_timestamp)
        user, item = np.asarray(columns[0], str), np.asarray(columns[1], str)
        rest = iter(columns[2:])
        rating = np.asarray(next(rest), "float32") if has_rating else None
        timestamp = np.asarray(next(rest), "float64") if has_timestamp else None
        return cls(user, item, rating, timestamp)


def _plain(value):
    value = value.item() if hasattr(value, "item") else value
    # float32 ratings would print as 4.400000095; six decimals are plenty for ratings and times.
    return round(value, 6) if isinstance(value, float) else value


def read_csv(path: str | Path) -> Interactions:
    """A CSV with a header naming ``user`` and ``item`` (and optionally ``rating``,
    ``timestamp``) columns, in any order; other columns are ignored."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ZooError(f"no interactions file at {path}; pass --data FILE.csv with columns "
                       f"user,item[,rating][,timestamp]")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        missing = [c for c in ("user", "item") if c not in header]
        if missing:
            raise ZooError(f"{path} needs a header with columns user,item[,rating][,timestamp]; "
                           f"it has {','.join(header) or 'none'}")
        index = {c: header.index(c) for c in COLUMNS if c in header}
        rows = []
        for line_number, row in enumerate(reader, start=2):
            if not row or not any(cell.strip() for cell in row):
                continue
            try:
                rows.append([row[index[c]].strip() for c in index])
            except IndexError:
                raise ZooError(f"{path}:{line_number} has {len(row)} fields, the header "
                               f"{len(header)}; fix or remove that line") from None
    if not rows:
        raise ZooError(f"{path} has a header but no interactions")
    columns = {c: [r[i] for r in rows] for i, c in enumerate(index)}
    numeric = {}
    for name in ("rating", "timestamp"):
        if name in columns:
            try:
                numeric[name] = np.asarray(columns[name], "float64")
            except ValueError:
                bad = next(v for v in columns[name] if not _is_number(v))
                raise ZooError(f"{path}: {name} must be numeric, found {bad!r}") from None
    return Interactions(np.asarray(columns["user"], str), np.asarray(columns["item"], str),
                        numeric["rating"].astype("float32") if "rating" in numeric else None,
                        numeric.get("timestamp"))


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def split_by_time(data: Interactions, holdout: int = 2, min_train: int = 2
                  ) -> tuple[Interactions, Interactions]:
    """Each user's last ``holdout`` interactions (by timestamp, else file order) go to the test
    split; users with fewer than ``holdout + min_train`` interactions stay wholly in train."""
    order_key = data.timestamp if data.timestamp is not None else np.arange(len(data))
    order = np.lexsort((np.arange(len(data)), order_key, data.user))
    users = data.user[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    ends = np.r_[starts[1:], len(users)]
    is_test = np.zeros(len(data), bool)
    for start, end in zip(starts, ends):
        if end - start >= holdout + min_train:
            is_test[end - holdout:end] = True
    return data.take(np.sort(order[~is_test])), data.take(np.sort(order[is_test]))


def synthetic(n_users: int = 1000, n_items: int = 400, n_genres: int = 8, per_user: int = 30,
              favourite_share: float = 0.8, seed: int = 0) -> Interactions:
    """Interactions with structure a recommender can find, and a popularity signal it must beat.

    Items belong to ``n_genres`` genres and have Zipf-like popularity. Each user favours one or
    two genres: ``favourite_share`` of their interactions are items of those genres (picked by
    popularity), the rest are globally popular items. Ratings are 4-5 for favourite-genre items,
    1-3 otherwise; timestamps increase along each user's history. Deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    genre = np.arange(n_items) % n_genres
    popularity = 1.0 / (1.0 + rng.permutation(n_items)) ** 0.8
    rows_user, rows_item, rows_rating, rows_time = [], [], [], []
    for u in range(n_users):
        favourites = rng.choice(n_genres, size=rng.integers(1, 3), replace=False)
        liked = np.isin(genre, favourites)
        weights = np.where(liked, popularity * favourite_share / popularity[liked].sum(),
                           popularity * (1 - favourite_share) / popularity[~liked].sum())
        count = min(per_user + int(rng.integers(-per_user // 3, per_user // 3 + 1)), n_items)
        items = rng.choice(n_items, size=count, replace=False, p=weights / weights.sum())
        start = rng.uniform(0, 1e6)
        rows_user += [f"u{u:04d}"] * count
        rows_item += [f"i{i:04d}" for i in items]
        rows_rating += [float(np.clip(np.where(liked[i], rng.normal(4.5, 0.5), rng.normal(2, 0.8)),
                                      1, 5).round(1)) for i in items]
        rows_time += list(np.round(start + np.cumsum(rng.exponential(3600, count))))
    return Interactions(np.asarray(rows_user), np.asarray(rows_item),
                        np.asarray(rows_rating, "float32"), np.asarray(rows_time))


def write_csv(data: Interactions, out: str | Path) -> Path:
    """Write ``user,item[,rating][,timestamp]`` with a header, atomically."""
    import io as _io

    names = [n for n, a in zip(COLUMNS, data.columns()) if a is not None]
    buffer = _io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    writer.writerows(data.rows())
    return io.write_text(out, buffer.getvalue())


def write_synthetic(out: str | Path, **options) -> dict:
    """``zoo data interactions OUT``: :func:`synthetic` written to a CSV; returns a summary."""
    data = synthetic(**options)
    path = write_csv(data, out)
    return {"path": str(path), "interactions": len(data), "users": len(set(data.user)),
            "items": len(set(data.item))}
