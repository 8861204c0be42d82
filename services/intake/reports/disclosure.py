"""Disclosure control of a table of counts: small cells hidden, and hidden for good.

Primary suppression: every cell (a total included) from 1 to ``threshold - 1`` is shown as
``<5`` (for the default threshold). Zeros are shown: that no child is in a cell is what
the table is for, and hiding zeros would not protect anyone more.

Complementary suppression: a table with its totals is a set of equations (each row and each
column, totals included, adds up). A hidden cell can be worked out from them unless it lies on
a *cycle* of hidden cells: hidden cells as the edges of a graph between rows and columns,
a cell is determined by the totals exactly when it is a bridge of that graph (the equations'
solutions differ only along cycles). So, until no hidden cell is a bridge, for each bridge
the cheapest path of cells from its row to its column is hidden as well, which closes a cycle
through it. Cheapest: cells already hidden cost nothing, then the smallest non-zero inner
cells, then zeros (a hidden zero protects less: it can only grow; never one whose row or column
adds up to 0, since then every cell of it is known to be 0), and totals last, only when
nothing else will do: a total is shared with the other tables of the same children, and one
hidden here but shown there would give the cell away. Cells hidden this way are shown as
``x``.
"""

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

ZERO_COST = 1_000  # a hidden zero can only grow: it protects less than a count does
TOTAL_COST = 1_000_000  # a total is shared with other tables: hidden only if nothing else will do


class Shown(StrEnum):
    VALUE = "value"
    PRIMARY = "primary"  # below the threshold
    COMPLEMENTARY = "complementary"  # hidden so that a primary one cannot be worked out


@dataclass
class Grid:
    """A table of counts with its totals: ``values[r][c]`` for the inner cells, the row totals
    as a last column and the column totals as a last row (the grand total in the corner, when
    both are there). A table whose rows are not parts of a whole (outcomes: a child may be
    both reunified and in school) has no column totals; one whose columns are not (referrals
    made, accepted, completed) has no row totals."""

    rows: list[str]
    columns: list[str]
    inner: list[list[int]]
    row_totals: bool = True
    column_totals: bool = True
    shown: list[list[Shown]] = field(default_factory=list)

    def __post_init__(self) -> None:
        lines = [[*line, sum(line)] if self.row_totals else list(line) for line in self.inner]
        if self.column_totals:
            width = len(self.columns) + (1 if self.row_totals else 0)
            lines.append([sum(line[c] for line in lines) for c in range(width)])
        self.values = lines
        self.shown = [[Shown.VALUE for _ in line] for line in self.values]

    @property
    def height(self) -> int:
        return len(self.values)

    @property
    def width(self) -> int:
        return len(self.columns) + (1 if self.row_totals else 0)

    def is_total(self, r: int, c: int) -> bool:
        return (self.column_totals and r == self.height - 1) or (
            self.row_totals and c == self.width - 1
        )

    def equations(self) -> list[list[tuple[int, int, int]]]:
        """Each equation the published table satisfies, as (row, column, sign) terms summing to
        zero: every row and every column that has a total, the total negated."""
        found = []
        last_row, last_column = self.height - 1, self.width - 1
        if self.row_totals:
            for r in range(self.height):
                terms = [(r, c, 1) for c in range(last_column)]
                found.append([*terms, (r, last_column, -1)])
        if self.column_totals:
            for c in range(self.width):
                terms = [(r, c, 1) for r in range(last_row)]
                found.append([*terms, (last_row, c, -1)])
        return found

    def hidden(self, r: int, c: int) -> bool:
        return self.shown[r][c] is not Shown.VALUE

    def label(self, r: int, c: int, threshold: int) -> str:
        return {
            Shown.VALUE: str(self.values[r][c]),
            Shown.PRIMARY: f"<{threshold}",
            Shown.COMPLEMENTARY: "x",
        }[self.shown[r][c]]


def suppress(grid: Grid, threshold: int) -> Grid:
    """Mark the grid's cells to hide (see the module's docstring); returns the grid."""
    for r, line in enumerate(grid.values):
        for c, value in enumerate(line):
            if 0 < value < threshold:
                grid.shown[r][c] = Shown.PRIMARY
    while (bridge := _a_bridge(grid)) is not None:
        for r, c in _cheapest_path(grid, bridge):
            if not grid.hidden(r, c):
                grid.shown[r][c] = Shown.COMPLEMENTARY
    return grid


# The graph: a node per row ("r", i) and per column ("c", j); a cell (i, j) is the edge
# between them. With totals one way only, the lines that add up are independent equations:
# each needs none or two and more of its cells hidden.


def _a_bridge(grid: Grid) -> tuple[int, int] | None:
    hidden = [(r, c) for r in range(grid.height) for c in range(grid.width) if grid.hidden(r, c)]
    if not (grid.row_totals and grid.column_totals):
        for line in _lines(grid):
            alone = [cell for cell in line if cell in hidden]
            if len(alone) == 1:
                return alone[0]
        return None
    for cell in hidden:
        others = [other for other in hidden if other != cell]
        if not _connected(("r", cell[0]), ("c", cell[1]), others):
            return cell
    return None


def _lines(grid: Grid) -> list[list[tuple[int, int]]]:
    """The cells of each line that adds up."""
    return [[(r, c) for r, c, _sign in equation] for equation in grid.equations()]


def _connected(start: tuple[str, int], goal: tuple[str, int], edges: list[tuple[int, int]]) -> bool:
    neighbours: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for r, c in edges:
        neighbours.setdefault(("r", r), []).append(("c", c))
        neighbours.setdefault(("c", c), []).append(("r", r))
    seen, todo = {start}, [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        for other in neighbours.get(node, []):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return False


def _cost(grid: Grid, r: int, c: int) -> int | None:
    """What hiding the cell costs; None if hiding it protects nothing: every cell of a line
    whose total is 0 is 0, hidden or not, and anyone can tell."""
    if grid.hidden(r, c):
        return 0
    if 0 in _line_totals(grid, r, c):
        return None
    value = grid.values[r][c]
    if grid.is_total(r, c):
        return TOTAL_COST + value  # a total of nothing too: another table may show it
    return value or ZERO_COST


def _line_totals(grid: Grid, r: int, c: int) -> list[int]:
    """The totals of the cell's row and column, those the table has."""
    found = []
    if grid.row_totals:
        found.append(grid.values[r][grid.width - 1])
    if grid.column_totals:
        found.append(grid.values[grid.height - 1][c])
    return found


def _cheapest_path(grid: Grid, bridge: tuple[int, int]) -> list[tuple[int, int]]:
    """The cells to hide so that ``bridge`` lies on a cycle of hidden cells."""
    r0, c0 = bridge
    if not (grid.row_totals and grid.column_totals):
        # One way only: one more cell of the line it is alone in, the cheapest.
        line = next(line for line in _lines(grid) if bridge in line)
        costs = {cell: _cost(grid, *cell) for cell in line if cell != bridge}
        usable = {cell: cost for cell, cost in costs.items() if cost is not None}
        return [min(usable, key=usable.__getitem__)]
    # Dijkstra from the bridge's row to its column, over every cell but the bridge.
    start, goal = ("r", r0), ("c", c0)
    best: dict[tuple[str, int], int] = {start: 0}
    came: dict[tuple[str, int], tuple[tuple[str, int], tuple[int, int]]] = {}
    queue: list[tuple[int, tuple[str, int]]] = [(0, start)]
    while queue:
        cost, node = heapq.heappop(queue)
        if node == goal:
            break
        if cost > best[node]:
            continue
        kind, index = node
        steps: Sequence[tuple[int, int]] = (
            [(index, c) for c in range(grid.width)]
            if kind == "r"
            else [(r, index) for r in range(grid.height)]
        )
        for r, c in steps:
            step = _cost(grid, r, c)
            if (r, c) == bridge or step is None:
                continue
            other = ("c", c) if kind == "r" else ("r", r)
            through = cost + step
            if through < best.get(other, through + 1):
                best[other] = through
                came[other] = (node, (r, c))
                heapq.heappush(queue, (through, other))
    path, node = [], goal
    while node != start:
        node, cell = came[node]
        path.append(cell)
    return path
