//! Tables for people: no borders and no rules, columns separated by two spaces, numbers right-aligned, text
//! left-aligned, each column as wide as its widest cell, no trailing spaces (drawn by `comfy-table`).
//!
//! This module lays out cells; it does not format numbers (the caller chooses decimals and units).

use comfy_table::{presets, CellAlignment, Table};

/// Alignment of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Text: flush left.
    Left,
    /// Numbers: flush right.
    Right,
}

/// A borderless table under construction.
#[derive(Debug)]
pub struct TextTable {
    table: Table,
    aligns: Vec<Align>,
}

impl TextTable {
    /// A table with a header row naming `columns`.
    pub fn new(columns: &[(&str, Align)]) -> Self {
        let mut t = Self::without_header(&columns.iter().map(|c| c.1).collect::<Vec<_>>());
        t.table
            .set_header(columns.iter().map(|c| c.0).collect::<Vec<_>>());
        t
    }

    /// A table without a header row (a list of labelled values).
    pub fn without_header(aligns: &[Align]) -> Self {
        let mut table = Table::new();
        table.load_preset(presets::NOTHING);
        TextTable {
            table,
            aligns: aligns.to_vec(),
        }
    }

    /// Appends a row.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Self {
        self.table
            .add_row(cells.into_iter().map(Into::into).collect::<Vec<String>>());
        self
    }

    /// The table as lines, each ending in a newline.
    pub fn render(mut self) -> String {
        for (i, column) in self.table.column_iter_mut().enumerate() {
            column.set_cell_alignment(match self.aligns.get(i) {
                Some(Align::Left) => CellAlignment::Left,
                _ => CellAlignment::Right,
            });
            column.set_padding(if i == 0 { (0, 1) } else { (1, 1) });
        }
        let mut text = self.table.trim_fmt();
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_without_borders() {
        let mut t = TextTable::new(&[("name", Align::Left), ("value", Align::Right)]);
        t.row(["spot", "63401.17"]).row(["net GEX", "-9.39"]);
        assert_eq!(
            t.render(),
            "name        value\nspot     63401.17\nnet GEX     -9.39\n"
        );
        let mut t = TextTable::without_header(&[Align::Left, Align::Right, Align::Left]);
        t.row(["a", "1", "USD"]).row(["bb", "22", ""]);
        assert_eq!(t.render(), "a    1  USD\nbb  22\n");
    }
}
