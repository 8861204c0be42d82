"""Checks of a table under disclosure control, made apart from how it chose its cells.

A hidden cell can be worked out from the published table exactly when its unit vector lies in
the row space of the table's equations restricted to the hidden cells (the shown values moved
to the right-hand side): linear algebra, not the suppression's own graph reasoning."""

import numpy as np

from services.intake.reports.disclosure import Grid


def determined_cells(grid: Grid) -> list[tuple[int, int]]:
    """The hidden cells whose value the published equations fix."""
    hidden = [(r, c) for r in range(grid.height) for c in range(grid.width) if grid.hidden(r, c)]
    if not hidden:
        return []
    index = {cell: i for i, cell in enumerate(hidden)}
    system = np.zeros((len(grid.equations()), len(hidden)))
    for e, equation in enumerate(grid.equations()):
        for r, c, sign in equation:
            if (r, c) in index:
                system[e, index[(r, c)]] = sign
    rank = np.linalg.matrix_rank(system)
    found = []
    for cell, i in index.items():
        unit = np.zeros((1, len(hidden)))
        unit[0, i] = 1
        if np.linalg.matrix_rank(np.vstack([system, unit])) == rank:
            found.append(cell)
    return found


def visible_small_cells(grid: Grid, threshold: int) -> list[int]:
    """Counts from 1 to ``threshold - 1`` that the table shows."""
    return [
        grid.values[r][c]
        for r in range(grid.height)
        for c in range(grid.width)
        if not grid.hidden(r, c) and 0 < grid.values[r][c] < threshold
    ]


def hidden_in_empty_lines(grid: Grid) -> list[tuple[int, int]]:
    """Hidden cells of a row or column whose total is shown as 0: each is known to be 0, so
    it protects nothing (the linear algebra above does not see that counts are never
    negative)."""
    empty_rows = {
        r for r in range(grid.height) if grid.row_totals and grid.values[r][grid.width - 1] == 0
    }
    empty_columns = {
        c for c in range(grid.width) if grid.column_totals and grid.values[grid.height - 1][c] == 0
    }
    return [
        (r, c)
        for r in range(grid.height)
        for c in range(grid.width)
        if grid.hidden(r, c) and (r in empty_rows or c in empty_columns)
    ]
