"""Disclosure control: no cell under the threshold is shown, and no hidden cell can be worked
out from the totals published beside it (checked by linear algebra: tests/disclosurecheck.py)."""

import random

import pytest

from services.intake.reports.disclosure import Grid, Shown, suppress
from tests.disclosurecheck import determined_cells, hidden_in_empty_lines, visible_small_cells

THRESHOLD = 5


def test_a_small_cell_is_shown_as_below_the_threshold_and_a_partner_cell_hides_it():
    grid = suppress(Grid(["A", "B"], ["female", "male"], [[3, 40], [12, 30]]), THRESHOLD)
    assert grid.label(0, 0, THRESHOLD) == "<5"
    assert grid.shown[0][0] is Shown.PRIMARY
    # The 3 cannot stay alone in its row or column: 40 (row) and 12 (column) would give it.
    complementary = {
        (r, c)
        for r in range(grid.height)
        for c in range(grid.width)
        if grid.shown[r][c] is Shown.COMPLEMENTARY
    }
    assert complementary == {(0, 1), (1, 0), (1, 1)}
    assert {grid.label(r, c, THRESHOLD) for r, c in complementary} == {"x"}
    assert determined_cells(grid) == []
    # The totals stay: the suppression spares them when inner cells will do.
    assert grid.label(0, 2, THRESHOLD) == "43"
    assert grid.label(2, 2, THRESHOLD) == "85"


def test_a_table_without_small_cells_is_shown_whole():
    grid = suppress(Grid(["A", "B"], ["female", "male"], [[7, 0], [12, 30]]), THRESHOLD)
    assert all(not grid.hidden(r, c) for r in range(grid.height) for c in range(grid.width))


@pytest.mark.parametrize(("row_totals", "column_totals"), [(True, False), (False, True)])
def test_a_table_with_totals_one_way_hides_two_or_more_cells_of_each_line_that_adds_up(
    row_totals, column_totals
):
    grid = suppress(
        Grid(
            ["A", "B", "C"],
            ["made", "accepted"],
            [[20, 2], [9, 8], [30, 25]],
            row_totals=row_totals,
            column_totals=column_totals,
        ),
        THRESHOLD,
    )
    assert grid.shown[0][1] is Shown.PRIMARY
    assert visible_small_cells(grid, THRESHOLD) == []
    assert determined_cells(grid) == []
    assert hidden_in_empty_lines(grid) == []


@pytest.mark.parametrize("seed", range(40))
def test_random_tables_of_small_counts_show_nothing_small_and_nothing_derivable(seed):
    chance = random.Random(seed)
    rows, columns = chance.randint(1, 7), chance.randint(1, 4)
    inner = [
        [chance.choice([0, 0, 1, 2, 3, 4, 5, 6, 9, 15, 40]) for _ in range(columns)]
        for _ in range(rows)
    ]
    row_totals, column_totals = chance.choice([(True, True), (True, False), (False, True)])
    grid = suppress(
        Grid(
            [f"r{i}" for i in range(rows)],
            [f"c{j}" for j in range(columns)],
            inner,
            row_totals=row_totals,
            column_totals=column_totals,
        ),
        THRESHOLD,
    )
    assert visible_small_cells(grid, THRESHOLD) == []
    assert determined_cells(grid) == []
    assert hidden_in_empty_lines(grid) == []


def test_a_cell_of_a_line_that_adds_up_to_nothing_is_never_the_one_hidden_beside_another():
    # Column "male" adds up to 0: each of its cells is 0 whether hidden or not.
    grid = suppress(Grid(["A", "B"], ["female", "male"], [[3, 0], [40, 0]]), THRESHOLD)
    assert hidden_in_empty_lines(grid) == []
    assert grid.shown[0][0] is Shown.PRIMARY
    assert determined_cells(grid) == []
