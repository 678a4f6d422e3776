//! The guard in front of ad-hoc SQL (`dealerflow query --sql`): exactly one `SELECT`, `WITH`, `SHOW`, `DESCRIBE`
//! (`DESC`) or `EXPLAIN` statement, no `FORMAT` or `INTO OUTFILE` clause (the tool picks the output format).
//!
//! The statement is scanned with ClickHouse's lexical rules for strings (`'...'` with `\` escapes and `''`),
//! quoted identifiers (`` `...` ``, `"..."`) and comments (`--`, `/* */`), so a `;` or keyword inside them does
//! not count. Anything the scanner is unsure of is refused. This guard is the first fence; the query is also sent
//! with the `readonly=1` setting, which the server enforces whatever the text says.

use super::error::ClickHouseError;

/// Statement keywords that read.
pub const READ_ONLY_KEYWORDS: [&str; 6] = ["SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN"];

/// Checks that `sql` is a single read-only statement; returns it without a trailing `;`, ending in a newline
/// (so that a `FORMAT` clause appended after it never lands inside a trailing comment).
pub fn check_read_only(sql: &str) -> Result<String, ClickHouseError> {
    let refuse = |reason: String| Err(ClickHouseError::NotReadOnly { reason });
    let words = match scan(sql) {
        Ok(s) => s,
        Err(reason) => return refuse(reason),
    };
    let Some(first) = words.words.first() else {
        return refuse("the statement is empty".into());
    };
    if !words.starts_with_word {
        return refuse(
            "the statement must start with a keyword (no parentheses or quotes before it)".into(),
        );
    }
    if let Some(at) = words.semicolon_before_end {
        return refuse(format!(
            "only one statement is allowed (a `;` at byte {at} is followed by more)"
        ));
    }
    if !READ_ONLY_KEYWORDS.contains(&first.as_str()) {
        return refuse(format!(
            "{first} statements are not allowed; only {} (ClickHouse is queried read-only)",
            READ_ONLY_KEYWORDS.join(", ")
        ));
    }
    for pair in words.words.windows(2) {
        if pair[0] == "INTO" && pair[1] == "OUTFILE" {
            return refuse("INTO OUTFILE is not allowed".into());
        }
    }
    if words.words.iter().any(|w| w == "FORMAT") {
        return refuse(
            "leave out the FORMAT clause; the output format is chosen by the caller".into(),
        );
    }
    let body = &sql[..words.end_of_statement];
    Ok(format!("{}\n", body.trim()))
}

/// What the scanner found.
struct Scanned {
    /// Bare words outside strings, identifiers and comments, upper-cased.
    words: Vec<String>,
    /// Byte offset of a `;` that is followed by more than whitespace and comments.
    semicolon_before_end: Option<usize>,
    /// Byte offset where the statement ends (before a final `;`).
    end_of_statement: usize,
    /// True when the first token (after whitespace and comments) is a bare word.
    starts_with_word: bool,
}

fn scan(sql: &str) -> Result<Scanned, String> {
    let b = sql.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    let mut semicolon: Option<usize> = None;
    let mut semicolon_before_end = None;
    let mut first_token: Option<bool> = None;
    while i < b.len() {
        let c = b[i];
        let comment =
            c == b'-' && b.get(i + 1) == Some(&b'-') || c == b'/' && b.get(i + 1) == Some(&b'*');
        if first_token.is_none() && !c.is_ascii_whitespace() && !comment {
            first_token = Some(c.is_ascii_alphabetic());
        }
        if let Some(at) = semicolon {
            // After a `;` only whitespace and comments may follow.
            if !(c.is_ascii_whitespace() || comment) {
                semicolon_before_end = Some(at);
                break;
            }
        }
        match c {
            b'\'' | b'"' | b'`' => {
                let quote = c;
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err(format!("unterminated {} quote", quote as char)),
                        Some(b'\\') => i += 2,
                        Some(&q) if q == quote => {
                            if b.get(i + 1) == Some(&quote) {
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => match sql[i + 2..].find("*/") {
                Some(end) => i += 2 + end + 2,
                None => return Err("unterminated /* comment".into()),
            },
            b';' => {
                if semicolon.is_none() {
                    semicolon = Some(i);
                }
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                words.push(sql[start..i].to_ascii_uppercase());
            }
            _ => i += 1,
        }
    }
    Ok(Scanned {
        words,
        semicolon_before_end,
        end_of_statement: semicolon.unwrap_or(sql.len()),
        starts_with_word: first_token.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pass() {
        for ok in [
            "SELECT 1",
            "  select count() from trades FINAL;  ",
            "WITH 1 AS x SELECT x",
            "SHOW TABLES",
            "describe table trades",
            "EXPLAIN SELECT 1",
            "SELECT ';', 'a\\'; DROP TABLE x' -- trailing ; comment",
            "SELECT `weird;name` FROM t /* ; */",
            "SELECT 'it''s' ; -- done",
            "SELECT 'INSERT INTO t FORMAT CSV'",
        ] {
            let s = check_read_only(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(s.ends_with('\n'));
            assert!(!s.trim_end().ends_with(';'), "{s}");
        }
        assert_eq!(check_read_only("SELECT 1; ").unwrap(), "SELECT 1\n");
    }

    #[test]
    fn writes_and_tricks_are_refused() {
        for bad in [
            "",
            "   -- only a comment",
            "INSERT INTO trades VALUES (1)",
            "insert into trades select * from trades",
            "DROP TABLE trades",
            "ALTER TABLE trades DELETE WHERE 1",
            "TRUNCATE TABLE trades",
            "CREATE TABLE x (a Int8) ENGINE = Memory",
            "OPTIMIZE TABLE trades FINAL",
            "RENAME TABLE trades TO t2",
            "SET readonly = 0",
            "SYSTEM SHUTDOWN",
            "KILL QUERY WHERE 1",
            "ATTACH TABLE trades",
            "SELECT 1; DROP TABLE trades",
            "SELECT 1;DROP TABLE trades;",
            "SELECT 1 /* */; INSERT INTO t VALUES (1)",
            "SELECT 'unterminated",
            "SELECT 1 /* unterminated",
            "SELECT * FROM trades INTO OUTFILE '/tmp/x'",
            "SELECT 1 FORMAT TabSeparated",
            "(SELECT 1)",
        ] {
            let e = check_read_only(bad).unwrap_err();
            assert!(
                matches!(e, ClickHouseError::NotReadOnly { .. }),
                "{bad}: {e}"
            );
        }
    }
}
