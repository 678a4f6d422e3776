//! CBOE delayed-quote option chains (`quotedata.csv`, the chain download of cboe.com): reading and validating a
//! file into a [`ChainFile`]. No I/O: the caller hands over the file's bytes.
//!
//! The format, line by line:
//!
//! ```text
//!                                                      (an empty line)
//! SPDR S&P 500 ETF Trust,Last: 557.37,Change:  -4.71
//! "Date: May 6, 2025 at 6:09 PM EDT",Bid: 557.37,Ask: 557.49,Size: 1*7,"Volume: 46,446,753"
//! Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest,Strike,Puts,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest
//! Tue May 06 2025,SPY250506C00555000,3.75,-6.165,2.98,4.79,7375,0.6513,0.9905,0.016,1628,555.00,SPY250506P00555000,...
//! ```
//!
//! - the underlying's description and its last price (`Last:`, USD; thousands separators allowed);
//! - the quote time, New York wall-clock time with its zone ([`crate::quote_time`]);
//! - the column header, then one row per (expiry, strike): the call's columns, `Strike`, the put's columns.
//!   Columns are found by name (the call's `Bid` is the first `Bid` after `Calls`, the put's the first after
//!   `Puts`), so a reordered or extended export still reads;
//! - `Calls`/`Puts` are OSI symbols (`SPY250506C00555000`); the underlying's ticker comes from them (the first
//!   line has only a description), e.g. `SPY`, or `SPX` for `SPXW` symbols;
//! - `Bid`/`Ask` in USD per share, `IV` a fraction (0.1834 = 18.34 %; 0 when CBOE has none), `Open Interest`
//!   in contracts of 100 shares. `Last Sale`, `Net`, `Volume`, `Delta` and `Gamma` are not read.
//!
//! Validation: a row is rejected whole (line and reason, [`RowFault`]) when it has the wrong number of fields,
//! an expiration date or strike that cannot be read, a symbol that is not OSI or disagrees with its row (call on
//! the left, put on the right, same strike and expiration), an option of another underlying than the chain's,
//! or a bid, ask, IV or open interest that is not a number ≥ 0 (open interest a whole number). A file without
//! its last price, its quote time or a column header with the columns above is rejected whole ([`FileFault`]).
//!
//! Speed: the rows are read as `csv` byte records into one reused buffer and every field is parsed in place, with
//! no allocation per field; symbols are kept inline ([`SymbolBuf`]). See `benches/benches/cboe_chain.rs`.

use std::fmt;

use chrono::NaiveDate;
use csv::ByteRecord;
use dealerflow_schemas::osi::{self, OsiError, OsiSymbol};
use dealerflow_schemas::OptionKind;

use crate::quote_time::{month_number, parse_quote_time, QuoteTimeError};

/// The first lines of a chain.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainHeader {
    /// The underlying as the file describes it (`SPDR S&P 500 ETF Trust`); not its ticker.
    pub description: String,
    /// Last price of the underlying, USD.
    pub last_usd: f64,
    /// Quote time, epoch ms (UTC).
    pub quote_time_ms: i64,
}

/// An OSI symbol in its canonical (unpadded) spelling, kept inline: at most 21 ASCII bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SymbolBuf {
    bytes: [u8; 21],
    len: u8,
}

impl SymbolBuf {
    /// The root (1–6 bytes) and the 15-byte tail, already validated as ASCII.
    fn new(root: &[u8], tail: &[u8]) -> SymbolBuf {
        let mut bytes = [0u8; 21];
        bytes[..root.len()].copy_from_slice(root);
        bytes[root.len()..root.len() + tail.len()].copy_from_slice(tail);
        SymbolBuf {
            bytes,
            len: (root.len() + tail.len()) as u8,
        }
    }

    /// The symbol, e.g. `SPY250506C00555000`.
    pub fn as_str(&self) -> &str {
        // Only ASCII bytes are ever stored (checked by the parser), so this never falls back.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }

    /// The option root (`SPY`, `SPXW`): everything before the 15-byte date, type and strike.
    pub fn root(&self) -> &str {
        let s = self.as_str();
        &s[..s.len().saturating_sub(15)]
    }
}

impl fmt::Debug for SymbolBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for SymbolBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One option of a chain row, validated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChainOption {
    /// OSI symbol, canonical spelling.
    pub symbol: SymbolBuf,
    /// Call (left side of the row) or put (right side).
    pub kind: OptionKind,
    /// Strike, thousandths of a USD.
    pub strike_milli: u32,
    /// Exercise and settlement time, epoch ms ([`dealerflow_schemas::osi::settlement_ms`]).
    pub expiry_ms: i64,
    /// Best bid, USD per share (0 when there is none).
    pub bid_usd: f64,
    /// Best ask, USD per share (0 when there is none).
    pub ask_usd: f64,
    /// CBOE's implied volatility, fraction; 0 when CBOE has none.
    pub iv: f64,
    /// Open interest, contracts.
    pub open_interest: u64,
}

impl ChainOption {
    /// The mid of bid and ask, USD per share; NaN when there is no two-sided quote (ask 0, or bid above ask).
    pub fn mid_usd(&self) -> f64 {
        if self.ask_usd > 0.0 && self.bid_usd <= self.ask_usd {
            0.5 * (self.bid_usd + self.ask_usd)
        } else {
            f64::NAN
        }
    }
}

/// One row of a chain: the call and the put of one (expiry, strike).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChainRow {
    /// 1-based line of the file.
    pub line: u64,
    /// Strike, thousandths of a USD.
    pub strike_milli: u32,
    /// Expiration date (year, month, day).
    pub expiration: (i32, u32, u32),
    /// The call.
    pub call: ChainOption,
    /// The put.
    pub put: ChainOption,
}

/// A rejected row.
#[derive(Clone, Debug, PartialEq)]
pub struct RowRejection {
    /// 1-based line of the file.
    pub line: u64,
    /// Why.
    pub fault: RowFault,
}

/// A chain file read and validated.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainFile {
    /// Description, last price and quote time.
    pub header: ChainHeader,
    /// The underlying's ticker (`SPY`; `SPX` for `SPXW` options), from the first valid row; `None` when no row
    /// is valid.
    pub underlying: Option<String>,
    /// Valid rows, in file order.
    pub rows: Vec<ChainRow>,
    /// Rejected rows, in file order.
    pub rejected: Vec<RowRejection>,
    /// Data rows read (valid + rejected).
    pub rows_read: u64,
}

/// Why a whole file was not read.
#[derive(Debug, thiserror::Error)]
pub enum FileFault {
    /// No line with `Last: <price>` before the column header.
    #[error("no underlying last price (a line with \"Last: <price>\" before the column header)")]
    NoLastPrice,
    /// The last price is not a number > 0.
    #[error("the underlying last price {value:?} is not a number > 0")]
    BadLastPrice {
        /// The text after `Last:`.
        value: String,
    },
    /// No line starting with `Date:` before the column header.
    #[error(
        "no quote time (a line starting with \"Date: <Month D, YYYY> at <h:mm AM|PM> EDT|EST\")"
    )]
    NoQuoteTime,
    /// The quote time cannot be read.
    #[error(transparent)]
    QuoteTime(#[from] QuoteTimeError),
    /// No column header (`Expiration Date,Calls,...`) among the first lines.
    #[error("no column header starting with \"Expiration Date\" among the first {0} lines")]
    NoColumnHeader(usize),
    /// The column header lacks a column.
    #[error("the column header has no {column:?} column{side}")]
    MissingColumn {
        /// The column.
        column: &'static str,
        /// ` for the calls`, ` for the puts` or empty.
        side: &'static str,
    },
    /// A column header and no row.
    #[error("no option rows after the column header")]
    NoRows,
    /// The CSV reader failed (the file could not be read).
    #[error("CSV: {message}")]
    Csv {
        /// The reader's message.
        message: String,
    },
}

impl FileFault {
    /// The reason's category, the key of the counts per reason.
    pub fn reason(&self) -> &'static str {
        match self {
            FileFault::NoLastPrice | FileFault::BadLastPrice { .. } => "no underlying last price",
            FileFault::NoQuoteTime | FileFault::QuoteTime(_) => "bad quote time",
            FileFault::NoColumnHeader(_) | FileFault::MissingColumn { .. } => "no column header",
            FileFault::NoRows => "no option rows",
            FileFault::Csv { .. } => "unreadable file",
        }
    }
}

/// Why a row was rejected.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RowFault {
    /// The row does not have as many fields as the column header.
    #[error("{found} fields, the column header has {expected}")]
    FieldCount {
        /// Fields in the row.
        found: usize,
        /// Fields in the header.
        expected: usize,
    },
    /// The expiration date is not like `Tue Sep 02 2025`.
    #[error("expiration date {value:?} is not like \"Tue Sep 02 2025\"")]
    Expiration {
        /// The field.
        value: String,
    },
    /// The strike is not a number > 0 with at most 3 decimals.
    #[error("strike {value:?} is not a number > 0 with at most 3 decimals")]
    Strike {
        /// The field.
        value: String,
    },
    /// A symbol is not an OSI symbol.
    #[error("{side} symbol: {source}", side = side_name(.kind))]
    Symbol {
        /// Which side of the row.
        kind: OptionKind,
        /// The parser's error.
        #[source]
        source: OsiError,
    },
    /// A symbol disagrees with its row.
    #[error("{side} symbol {symbol} does not match the row's {what}", side = side_name(.kind))]
    Mismatch {
        /// Which side of the row.
        kind: OptionKind,
        /// The symbol.
        symbol: String,
        /// `option type` (a put on the call side), `strike` or `expiration date`.
        what: &'static str,
    },
    /// An option of another underlying than the chain's (the first valid row's).
    #[error("{symbol} is an option on {underlying}, the chain is on {chain}")]
    OtherUnderlying {
        /// The symbol.
        symbol: String,
        /// Its underlying.
        underlying: String,
        /// The chain's underlying.
        chain: String,
    },
    /// A bid, ask, IV or open interest is not a number ≥ 0 (open interest: a whole number).
    #[error("{side} {column} {value:?} is not {expected}", side = side_name(.kind))]
    Number {
        /// Which side of the row.
        kind: OptionKind,
        /// `bid`, `ask`, `IV` or `open interest`.
        column: &'static str,
        /// The field.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
}

/// `call` or `put`.
fn side_name(kind: &OptionKind) -> &'static str {
    match kind {
        OptionKind::Call => "call",
        OptionKind::Put => "put",
    }
}

impl RowFault {
    /// The reason's category, the key of the counts per reason (`bad IV`, `bad option symbol`).
    pub fn reason(&self) -> String {
        match self {
            RowFault::FieldCount { .. } => "wrong number of fields".into(),
            RowFault::Expiration { .. } => "bad expiration date".into(),
            RowFault::Strike { .. } => "bad strike".into(),
            RowFault::Symbol { .. } => "bad option symbol".into(),
            RowFault::Mismatch { .. } => "option symbol does not match its row".into(),
            RowFault::OtherUnderlying { .. } => "option of another underlying".into(),
            RowFault::Number { column, .. } => format!("bad {column}"),
        }
    }
}

/// Lines searched for the column header.
const HEADER_SEARCH_LINES: usize = 16;

/// Column positions of one side (calls or puts).
#[derive(Clone, Copy, Debug)]
struct SideColumns {
    symbol: usize,
    bid: usize,
    ask: usize,
    iv: usize,
    open_interest: usize,
}

/// Column positions of a chain.
#[derive(Clone, Copy, Debug)]
struct Columns {
    count: usize,
    expiration: usize,
    strike: usize,
    call: SideColumns,
    put: SideColumns,
}

impl Columns {
    fn find(header: &ByteRecord) -> Result<Columns, FileFault> {
        let names: Vec<&[u8]> = header.iter().map(trim).collect();
        let find = |column: &'static str, side: &'static str| {
            names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(column.as_bytes()))
                .ok_or(FileFault::MissingColumn { column, side })
        };
        let expiration = find("Expiration Date", "")?;
        let strike = find("Strike", "")?;
        let calls = find("Calls", "")?;
        let puts = find("Puts", "")?;
        // A side's columns lie between its symbol column and the other side's (or the end).
        let side = |start: usize, other: usize, label: &'static str| {
            let end = if other > start { other } else { names.len() };
            let within = |column: &'static str| {
                names[start..end]
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(column.as_bytes()))
                    .map(|i| start + i)
                    .ok_or(FileFault::MissingColumn {
                        column,
                        side: label,
                    })
            };
            Ok::<_, FileFault>(SideColumns {
                symbol: start,
                bid: within("Bid")?,
                ask: within("Ask")?,
                iv: within("IV")?,
                open_interest: within("Open Interest")?,
            })
        };
        Ok(Columns {
            count: names.len(),
            expiration,
            strike,
            call: side(calls, puts, " for the calls")?,
            put: side(puts, calls, " for the puts")?,
        })
    }
}

/// Reads a chain file. `Err` when the file as a whole cannot be read; rejected rows are in the result.
pub fn parse_chain(bytes: &[u8]) -> Result<ChainFile, FileFault> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut record = ByteRecord::new();
    let csv_fault = |e: csv::Error| FileFault::Csv {
        message: e.to_string(),
    };

    let mut description = None;
    let mut last = None;
    let mut quote_time = None;
    let mut columns = None;
    for _ in 0..HEADER_SEARCH_LINES {
        if !reader.read_byte_record(&mut record).map_err(csv_fault)? {
            break;
        }
        let first = record.get(0).map(trim).unwrap_or_default();
        if first.starts_with(b"Date:") {
            quote_time = Some(parse_quote_time(&String::from_utf8_lossy(first))?);
        } else if first.eq_ignore_ascii_case(b"Expiration Date") {
            columns = Some(Columns::find(&record)?);
            break;
        } else if let Some(value) = record
            .iter()
            .map(trim)
            .find_map(|f| f.strip_prefix(b"Last:"))
        {
            description = Some(String::from_utf8_lossy(first).into_owned());
            last = Some(parse_last(value)?);
        }
    }
    let columns = columns.ok_or(FileFault::NoColumnHeader(HEADER_SEARCH_LINES))?;
    let last_usd = last.ok_or(FileFault::NoLastPrice)?;
    let quote_time_ms = quote_time.ok_or(FileFault::NoQuoteTime)?;

    let mut rows = RowParser {
        columns,
        underlying: None,
        settlement: None,
        expiration: None,
        root: None,
    };
    let mut out = ChainFile {
        header: ChainHeader {
            description: description.unwrap_or_default(),
            last_usd,
            quote_time_ms,
        },
        underlying: None,
        rows: Vec::new(),
        rejected: Vec::new(),
        rows_read: 0,
    };
    while reader.read_byte_record(&mut record).map_err(csv_fault)? {
        let line = record.position().map_or(0, |p| p.line());
        out.rows_read += 1;
        match rows.row(&record, line) {
            Ok(row) => out.rows.push(row),
            Err(fault) => out.rejected.push(RowRejection { line, fault }),
        }
    }
    if out.rows_read == 0 {
        return Err(FileFault::NoRows);
    }
    out.underlying = rows.underlying;
    Ok(out)
}

fn parse_last(value: &[u8]) -> Result<f64, FileFault> {
    let cleaned: Vec<u8> = trim(value).iter().copied().filter(|&b| b != b',').collect();
    number(&cleaned)
        .filter(|v| *v > 0.0)
        .ok_or_else(|| FileFault::BadLastPrice {
            value: String::from_utf8_lossy(trim(value)).into_owned(),
        })
}

/// An expiration date: (year, month, day).
type Date = (i32, u32, u32);

/// Row-by-row state: the columns, the chain's underlying, and what the previous row already worked out (rows
/// come expiry by expiry, so consecutive rows mostly share their expiration date, root and settlement time).
struct RowParser {
    columns: Columns,
    underlying: Option<String>,
    /// (AM-settled, date) → settlement ms, for the previous row.
    settlement: Option<((bool, Date), i64)>,
    /// The previous row's expiration field and its date.
    expiration: Option<(Vec<u8>, Date)>,
    /// A root already found to be an option root of the chain's underlying (up to 6 bytes).
    root: Option<([u8; 6], usize)>,
}

impl RowParser {
    fn row(&mut self, rec: &ByteRecord, line: u64) -> Result<ChainRow, RowFault> {
        let c = self.columns;
        if rec.len() != c.count {
            return Err(RowFault::FieldCount {
                found: rec.len(),
                expected: c.count,
            });
        }
        let field = |i: usize| trim(rec.get(i).unwrap_or_default());
        let exp_field = field(c.expiration);
        let expiration = match &self.expiration {
            Some((bytes, date)) if bytes.as_slice() == exp_field => *date,
            _ => {
                let date = parse_expiration(exp_field).ok_or_else(|| RowFault::Expiration {
                    value: lossy(exp_field),
                })?;
                self.expiration = Some((exp_field.to_vec(), date));
                date
            }
        };
        let strike_field = field(c.strike);
        let strike_milli = parse_strike_milli(strike_field).ok_or_else(|| RowFault::Strike {
            value: lossy(strike_field),
        })?;
        let call = self.option(rec, c.call, OptionKind::Call, strike_milli, expiration)?;
        let put = self.option(rec, c.put, OptionKind::Put, strike_milli, expiration)?;
        Ok(ChainRow {
            line,
            strike_milli,
            expiration,
            call,
            put,
        })
    }

    fn option(
        &mut self,
        rec: &ByteRecord,
        cols: SideColumns,
        kind: OptionKind,
        strike_milli: u32,
        expiration: (i32, u32, u32),
    ) -> Result<ChainOption, RowFault> {
        let field = |i: usize| trim(rec.get(i).unwrap_or_default());
        let raw = field(cols.symbol);
        let (root, tail) = self.symbol(raw, kind, strike_milli, expiration)?;
        let symbol = SymbolBuf::new(root, tail);
        let expiry_ms = self.settlement_ms(symbol.root(), expiration);
        let num = |column: &'static str, i: usize| {
            let f = field(i);
            number(f)
                .filter(|v| *v >= 0.0)
                .ok_or_else(|| RowFault::Number {
                    kind,
                    column,
                    value: lossy(f),
                    expected: "a number ≥ 0",
                })
        };
        let bid_usd = num("bid", cols.bid)?;
        let ask_usd = num("ask", cols.ask)?;
        let iv = num("IV", cols.iv)?;
        let oi_field = field(cols.open_interest);
        let open_interest = whole(oi_field).ok_or_else(|| RowFault::Number {
            kind,
            column: "open interest",
            value: lossy(oi_field),
            expected: "a whole number ≥ 0",
        })?;
        Ok(ChainOption {
            symbol,
            kind,
            strike_milli,
            expiry_ms,
            bid_usd,
            ask_usd,
            iv,
            open_interest,
        })
    }

    /// Checks one symbol against its row; returns its root and 15-byte tail. The common case (a valid,
    /// unpadded symbol that matches its row) allocates nothing; anything else is explained by
    /// [`OsiSymbol::parse`].
    fn symbol<'r>(
        &mut self,
        raw: &'r [u8],
        kind: OptionKind,
        strike_milli: u32,
        expiration: (i32, u32, u32),
    ) -> Result<(&'r [u8], &'r [u8]), RowFault> {
        let fast = split_osi(raw).filter(|(root, tail)| {
            tail[6] == kind_byte(kind)
                && digits_u32(&tail[7..15]) == Some(strike_milli)
                && date_matches(&tail[..6], expiration)
                && self.root_of_chain(root)
        });
        if let Some(parts) = fast {
            return Ok(parts);
        }
        // Slow path: say exactly what is wrong.
        let text = String::from_utf8_lossy(raw);
        let parsed = OsiSymbol::parse(&text).map_err(|source| RowFault::Symbol { kind, source })?;
        let mismatch = |what| RowFault::Mismatch {
            kind,
            symbol: parsed.to_string(),
            what,
        };
        if parsed.kind != kind {
            return Err(mismatch("option type"));
        }
        if parsed.strike_milli != strike_milli {
            return Err(mismatch("strike"));
        }
        if parsed.expiration != expiration {
            return Err(mismatch("expiration date"));
        }
        let underlying = parsed.underlying();
        match &self.underlying {
            None => self.underlying = Some(underlying.to_string()),
            Some(chain) if chain != underlying => {
                return Err(RowFault::OtherUnderlying {
                    symbol: parsed.to_string(),
                    underlying: underlying.to_string(),
                    chain: chain.clone(),
                })
            }
            Some(_) => {}
        }
        // Valid and matching: the same split as the fast path (it only failed for the first row, or on padding).
        split_osi(raw).ok_or_else(|| mismatch("spelling"))
    }

    /// True when `root` is an option root of the chain's underlying (`SPXW` of `SPX`); remembers the last one.
    fn root_of_chain(&mut self, root: &[u8]) -> bool {
        if let Some((known, len)) = &self.root {
            if &known[..*len] == root {
                return true;
            }
        }
        let Some(underlying) = self.underlying.as_deref() else {
            return false;
        };
        let ok = underlying.as_bytes() == underlying_bytes(root);
        if ok && root.len() <= 6 {
            let mut known = [0u8; 6];
            known[..root.len()].copy_from_slice(root);
            self.root = Some((known, root.len()));
        }
        ok
    }

    fn settlement_ms(&mut self, root: &str, expiration: (i32, u32, u32)) -> i64 {
        let key = (osi::is_am_settled(root), expiration);
        if let Some((k, ms)) = self.settlement {
            if k == key {
                return ms;
            }
        }
        let (y, m, d) = expiration;
        // The date was validated when the row was read, so the settlement time exists.
        let ms = osi::settlement_ms(root, y, m, d).unwrap_or(i64::MIN);
        self.settlement = Some((key, ms));
        ms
    }
}

/// Splits an OSI symbol, padded or not, into its root (trailing spaces removed) and its 15-byte tail, checking
/// the characters but not the date: `None` for anything [`OsiSymbol::parse`] would refuse for its shape.
fn split_osi(b: &[u8]) -> Option<(&[u8], &[u8])> {
    if !(16..=21).contains(&b.len()) {
        return None;
    }
    let (root_part, tail) = b.split_at(b.len() - 15);
    let root_len = root_part
        .iter()
        .rposition(|&c| c != b' ')
        .map_or(0, |i| i + 1);
    let root = &root_part[..root_len];
    let root_ok = (1..=6).contains(&root.len())
        && root[0].is_ascii_uppercase()
        && root
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && (root_part.len() == root.len() || root_part.len() == 6);
    let tail_ok = tail[..6].iter().all(u8::is_ascii_digit)
        && (tail[6] == b'C' || tail[6] == b'P')
        && tail[7..].iter().all(u8::is_ascii_digit)
        && tail[7..].iter().any(|&c| c != b'0');
    (root_ok && tail_ok).then_some((root, tail))
}

fn kind_byte(kind: OptionKind) -> u8 {
    match kind {
        OptionKind::Call => b'C',
        OptionKind::Put => b'P',
    }
}

fn underlying_bytes(root: &[u8]) -> &[u8] {
    std::str::from_utf8(root).map_or(root, |r| osi::underlying_of_root(r).as_bytes())
}

/// True when `yymmdd` names `expiration` (a valid date in 2000–2099).
fn date_matches(yymmdd: &[u8], (y, m, d): (i32, u32, u32)) -> bool {
    let two = |i: usize| u32::from(yymmdd[i] - b'0') * 10 + u32::from(yymmdd[i + 1] - b'0');
    (2000..2100).contains(&y) && two(0) == (y - 2000) as u32 && two(2) == m && two(4) == d
}

/// `Tue Sep 02 2025` → (2025, 9, 2), a date that exists. The weekday is not checked.
fn parse_expiration(b: &[u8]) -> Option<(i32, u32, u32)> {
    let s = std::str::from_utf8(b).ok()?;
    let mut parts = s.split_ascii_whitespace();
    let (_weekday, month, day, year) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let month = month_number(month)?;
    let day = digits_u32(day.as_bytes()).filter(|_| day.len() <= 2)?;
    let year = i32::try_from(digits_u32(year.as_bytes()).filter(|_| year.len() == 4)?).ok()?;
    NaiveDate::from_ymd_opt(year, month, day).map(|_| (year, month, day))
}

/// A strike such as `557.50` in thousandths of a USD: > 0, at most 3 decimals, below 100 000.
fn parse_strike_milli(b: &[u8]) -> Option<u32> {
    let (int, frac) = match b.iter().position(|&c| c == b'.') {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &b[..0]),
    };
    if int.is_empty() || int.len() > 5 || frac.iter().skip(3).any(|&c| c != b'0') {
        return None;
    }
    let whole = digits_u32(int)?;
    let mut milli = 0u32;
    for i in 0..3 {
        let c = frac.get(i).copied().unwrap_or(b'0');
        if !c.is_ascii_digit() {
            return None;
        }
        milli = milli * 10 + u32::from(c - b'0');
    }
    Some(whole * 1000 + milli).filter(|&v| v > 0)
}

/// A non-empty run of at most 9 ASCII digits.
fn digits_u32(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// A whole number of at most 10 digits (open interest below ten billion contracts, which fits the fixed-point
/// [`dealerflow_schemas::Amount`]).
fn whole(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 10 {
        return None;
    }
    let mut v = 0u64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(c - b'0');
    }
    Some(v)
}

/// Powers of ten exactly representable as `f64`.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// A finite decimal number.
///
/// The chain's numbers are short plain decimals (`-6.165`, `0.2671`, `1628`): with at most 15 significant digits
/// and 15 decimals, the digits as an integer and the power of ten are both exact in an `f64`, so one division
/// (correctly rounded by IEEE 754) gives the correctly rounded value, the same bits as `str::parse` (Clinger's
/// fast path, which the standard library takes for these inputs too). Anything else (exponents, more digits)
/// goes through `str::parse`.
fn number(b: &[u8]) -> Option<f64> {
    let (negative, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let mut mantissa = 0u64;
    let mut count = 0usize;
    let mut decimals = None;
    for (i, &c) in digits.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                count += 1;
                if count > 15 {
                    return number_slow(b);
                }
            }
            b'.' if decimals.is_none() => decimals = Some(digits.len() - i - 1),
            _ => return number_slow(b),
        }
    }
    if count == 0 {
        return None;
    }
    let v = mantissa as f64 / POW10[decimals.unwrap_or(0)];
    Some(if negative { -v } else { v })
}

/// A finite decimal number through `str::parse` (which also accepts `inf` and `NaN`: refused here).
fn number_slow(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dealerflow_schemas::time::format_ms;

    const HEAD: &str = "\nSPDR S&P 500 ETF Trust,Last: 557.37,Change:  -4.71\n\
\"Date: May 6, 2025 at 6:09 PM EDT\",Bid: 557.37,Ask: 557.49,Size: 1*7,\"Volume: 46,446,753\"\n\
Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest,Strike,Puts,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest\n";

    const ROW: &str = "Wed May 07 2025,SPY250507C00555000,5.4,-5.285,5.36,5.42,2119,0.2671,0.6873,0.0449,760,555.00,SPY250507P00555000,1.59,0.63,1.58,1.6,56109,0.2678,-0.3127,0.0449,5320\n";

    #[test]
    fn reads_the_header_and_a_row() {
        let f = parse_chain(format!("{HEAD}{ROW}").as_bytes()).unwrap();
        assert_eq!(f.header.description, "SPDR S&P 500 ETF Trust");
        assert_eq!(f.header.last_usd, 557.37);
        assert_eq!(
            format_ms(f.header.quote_time_ms),
            "2025-05-06T22:09:00.000Z"
        );
        assert_eq!(f.underlying.as_deref(), Some("SPY"));
        assert_eq!(f.rows_read, 1);
        let r = &f.rows[0];
        assert_eq!(r.line, 5);
        assert_eq!(r.strike_milli, 555_000);
        assert_eq!(r.expiration, (2025, 5, 7));
        assert_eq!(r.call.symbol.as_str(), "SPY250507C00555000");
        assert_eq!(r.call.symbol.root(), "SPY");
        assert_eq!((r.call.bid_usd, r.call.ask_usd), (5.36, 5.42));
        assert_eq!((r.call.iv, r.call.open_interest), (0.2671, 760));
        assert_eq!(format_ms(r.call.expiry_ms), "2025-05-07T20:00:00.000Z");
        assert_eq!(r.put.symbol.as_str(), "SPY250507P00555000");
        assert_eq!((r.put.bid_usd, r.put.ask_usd), (1.58, 1.6));
        assert_eq!((r.put.iv, r.put.open_interest), (0.2678, 5320));
        assert!((r.put.mid_usd() - 1.59).abs() < 1e-12);
    }

    #[test]
    fn no_two_sided_quote_has_no_mid() {
        let f = parse_chain(format!("{HEAD}{ROW}").as_bytes()).unwrap();
        let mut o = f.rows[0].call;
        (o.bid_usd, o.ask_usd) = (0.0, 0.0);
        assert!(o.mid_usd().is_nan());
        (o.bid_usd, o.ask_usd) = (1.2, 1.1);
        assert!(o.mid_usd().is_nan());
        (o.bid_usd, o.ask_usd) = (0.0, 0.01);
        assert_eq!(o.mid_usd(), 0.005);
    }

    #[test]
    fn bad_rows_are_rejected_one_by_one_with_their_line() {
        let bad = [
            (
                ROW.replace("Wed May 07 2025", "Wed May 32 2025"),
                "bad expiration date",
            ),
            (ROW.replace(",555.00,", ",555.0001,"), "bad strike"),
            (
                ROW.replace("SPY250507C00555000", "SPY250507X00555000"),
                "bad option symbol",
            ),
            (
                ROW.replace("SPY250507C00555000", "SPY250507P00555000"),
                "option symbol does not match its row",
            ),
            (
                ROW.replace("SPY250507C00555000", "SPY250507C00556000"),
                "option symbol does not match its row",
            ),
            (
                ROW.replace("SPY250507P00555000", "SPY250508P00555000"),
                "option symbol does not match its row",
            ),
            (
                ROW.replace("SPY250507C00555000", "QQQ250507C00555000"),
                "option of another underlying",
            ),
            (ROW.replace(",0.2671,", ",-0.2671,"), "bad IV"),
            (ROW.replace(",0.2671,", ",NaN,"), "bad IV"),
            (ROW.replace(",5.36,", ",,"), "bad bid"),
            (ROW.replace(",1.6,", ",x,"), "bad ask"),
            (ROW.replace(",760,", ",7.5,"), "bad open interest"),
            (ROW.replace(",5320", ",5320,1"), "wrong number of fields"),
        ];
        let mut text = format!("{HEAD}{ROW}");
        for (b, _) in &bad {
            text.push_str(b);
        }
        text.push_str(ROW);
        let f = parse_chain(text.as_bytes()).unwrap();
        assert_eq!(f.rows_read, bad.len() as u64 + 2);
        assert_eq!(f.rows.len(), 2);
        assert_eq!(f.rows[1].line, 5 + bad.len() as u64 + 1);
        for (i, ((_, reason), r)) in bad.iter().zip(&f.rejected).enumerate() {
            assert_eq!(r.line, 6 + i as u64, "{r:?}");
            assert_eq!(r.fault.reason(), *reason, "{r:?}");
        }
    }

    #[test]
    fn the_underlying_comes_from_the_symbols_and_padded_symbols_read() {
        let spx = "Fri Dec 19 2025,SPXW  251219C05000000,1,0,1,2,0,0.2,0.5,0.001,10,5000.00,SPXW  251219P05000000,1,0,1,2,0,0.2,-0.5,0.001,20\n\
Fri Dec 19 2025,SPX251219C05000000,1,0,1,2,0,0.2,0.5,0.001,10,5000.00,SPX251219P05000000,1,0,1,2,0,0.2,-0.5,0.001,20\n";
        let head = HEAD.replace(
            "May 6, 2025 at 6:09 PM EDT",
            "December 1, 2025 at 10:00 AM EST",
        );
        let f = parse_chain(format!("{head}{spx}").as_bytes()).unwrap();
        assert!(f.rejected.is_empty(), "{:?}", f.rejected);
        assert_eq!(f.underlying.as_deref(), Some("SPX"));
        assert_eq!(f.rows[0].call.symbol.as_str(), "SPXW251219C05000000");
        // PM-settled weekly root and AM-settled monthly root on the same day.
        assert_eq!(
            format_ms(f.rows[0].call.expiry_ms),
            "2025-12-19T21:00:00.000Z"
        );
        assert_eq!(
            format_ms(f.rows[1].put.expiry_ms),
            "2025-12-19T14:30:00.000Z"
        );
    }

    #[test]
    fn columns_are_found_by_name() {
        // Puts first, an extra column, crlf line ends, a byte-order mark and thousands in the last price.
        let text = "\u{feff}\r\nS&P 500 INDEX,\"Last: 5,650.38\",Change: 1\r\n\"Date: May 6, 2025 at 6:09 PM EDT\"\r\n\
Expiration Date,Strike,Puts,Open Interest,IV,Ask,Bid,Extra,Calls,Bid,Ask,IV,Open Interest\r\n\
Wed May 07 2025,5650,SPXW250507P05650000,7,0.3,2.5,2.0,x,SPXW250507C05650000,3.0,3.5,0.25,9\r\n";
        let f = parse_chain(text.as_bytes()).unwrap();
        assert!(f.rejected.is_empty(), "{:?}", f.rejected);
        assert_eq!(f.header.last_usd, 5650.38);
        let r = &f.rows[0];
        assert_eq!(
            (r.put.bid_usd, r.put.ask_usd, r.put.iv, r.put.open_interest),
            (2.0, 2.5, 0.3, 7)
        );
        assert_eq!(
            (
                r.call.bid_usd,
                r.call.ask_usd,
                r.call.iv,
                r.call.open_interest
            ),
            (3.0, 3.5, 0.25, 9)
        );
    }

    #[test]
    fn a_file_without_its_header_lines_is_rejected_whole() {
        let no_last = HEAD.replace("Last: 557.37", "Lost: 557.37");
        assert!(matches!(
            parse_chain(format!("{no_last}{ROW}").as_bytes()),
            Err(FileFault::NoLastPrice)
        ));
        let zero = HEAD.replace("Last: 557.37", "Last: 0");
        assert!(matches!(
            parse_chain(format!("{zero}{ROW}").as_bytes()),
            Err(FileFault::BadLastPrice { .. })
        ));
        let no_date = HEAD.replace("Date: ", "Data: ");
        assert!(matches!(
            parse_chain(format!("{no_date}{ROW}").as_bytes()),
            Err(FileFault::NoQuoteTime)
        ));
        let bad_date = HEAD.replace("6:09 PM EDT", "6:09 PM EST");
        assert!(matches!(
            parse_chain(format!("{bad_date}{ROW}").as_bytes()),
            Err(FileFault::QuoteTime(_))
        ));
        let no_iv = HEAD.replacen(",IV,", ",Vol,", 1);
        assert!(matches!(
            parse_chain(format!("{no_iv}{ROW}").as_bytes()),
            Err(FileFault::MissingColumn {
                column: "IV",
                side: " for the calls"
            })
        ));
        assert!(matches!(
            parse_chain(HEAD.as_bytes()),
            Err(FileFault::NoRows)
        ));
        assert!(matches!(
            parse_chain(b""),
            Err(FileFault::NoColumnHeader(_))
        ));
        assert!(matches!(
            parse_chain(ROW.repeat(20).as_bytes()),
            Err(FileFault::NoColumnHeader(_))
        ));
    }

    #[test]
    fn numbers_read_to_the_same_bits_as_the_standard_parser() {
        for text in [
            "0",
            "1628",
            "0.2671",
            "-6.165",
            "+3.5",
            "557.37",
            ".5",
            "5.",
            "123456789012345",
            "1234567890123456",
            "0.000000000000001",
            "9.999999999999999",
            "1e3",
            "-0.0",
            "0.1",
            "0.3",
            "2.675",
        ] {
            assert_eq!(
                number(text.as_bytes()).map(f64::to_bits),
                text.parse::<f64>().ok().map(f64::to_bits),
                "{text}"
            );
        }
        for bad in [
            "", "-", ".", "1.2.3", "1,5", "NaN", "inf", "infinity", "1e999", " 1",
        ] {
            assert_eq!(number(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn strikes_read_exactly() {
        assert_eq!(parse_strike_milli(b"557.50"), Some(557_500));
        assert_eq!(parse_strike_milli(b"5650"), Some(5_650_000));
        assert_eq!(parse_strike_milli(b"0.5"), Some(500));
        assert_eq!(parse_strike_milli(b"12.3450"), Some(12_345));
        for bad in [
            &b""[..],
            b"0",
            b"0.000",
            b".5",
            b"1.2345",
            b"1e3",
            b"-5",
            b"123456",
            b"5.5.5",
        ] {
            assert_eq!(
                parse_strike_milli(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn the_fast_symbol_split_agrees_with_the_osi_parser(s in "[A-Z0-9 ]{0,7}[0-9]{6}[CPX][0-9]{8}") {
            let fast = split_osi(s.as_bytes());
            let slow = OsiSymbol::parse(&s);
            if let Some((root, tail)) = fast {
                // The fast split does not check the calendar; the slow parser does.
                if let Ok(p) = &slow {
                    let canonical = p.to_string();
                    let buf = SymbolBuf::new(root, tail);
                    proptest::prop_assert_eq!(buf.as_str(), canonical.as_str());
                } else {
                    let (y, m, d) = (2000 + digits_u32(&tail[..2]).unwrap() as i32, digits_u32(&tail[2..4]).unwrap(), digits_u32(&tail[4..6]).unwrap());
                    proptest::prop_assert!(NaiveDate::from_ymd_opt(y, m, d).is_none(), "{s:?}");
                }
            } else {
                proptest::prop_assert!(slow.is_err(), "{s:?}");
            }
        }

        #[test]
        fn plain_decimals_read_like_the_standard_parser(int in 0u64..10_000_000, frac in 0u64..100_000_000, decimals in 0usize..9, negative in proptest::prelude::any::<bool>()) {
            let text = format!("{}{int}.{:0width$}", if negative { "-" } else { "" }, frac % 10u64.pow(decimals as u32), width = decimals);
            proptest::prop_assert_eq!(number(text.as_bytes()).map(f64::to_bits), text.parse::<f64>().ok().map(f64::to_bits), "{}", text);
        }

        #[test]
        fn never_panics_on_any_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = parse_chain(&bytes);
            let mut text = HEAD.as_bytes().to_vec();
            text.extend_from_slice(&bytes);
            let _ = parse_chain(&text);
        }

        #[test]
        fn never_panics_on_mangled_rows(row in "[A-Za-z0-9 ,.:\"-]{0,200}") {
            let _ = parse_chain(format!("{HEAD}{row}\n{ROW}").as_bytes());
        }
    }
}
