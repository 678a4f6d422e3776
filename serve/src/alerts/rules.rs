//! The rules file (TOML) and the rules themselves: which changes of the live state fire an alert.
//!
//! ```toml
//! [delivery]                    # optional; these are the defaults
//! timeout = "10s"               # per request
//! retry_initial = "500ms"       # first delay after a failed delivery; it doubles (with jitter) ...
//! retry_max = "1m"              # ... up to this
//!
//! [[target]]
//! name = "ops"
//! format = "discord"            # json (the alert as JSON), discord ({"content": ...}) or slack ({"text": ...})
//! url_env = "OPS_WEBHOOK_URL"   # or url = "https://..."
//!
//! [[rule]]
//! name = "big-trade"            # letters, digits, '-', '_', '.'; unique
//! when = "trade_size"
//! contracts_above = 25          # and/or notional_usd_above = 1_000_000
//! cooldown = "5m"               # optional, default 0s
//! currency = "BTC"              # optional: every currency
//! targets = ["ops"]             # optional: every target
//! ```
//!
//! | `when` | parameters | fires when |
//! |---|---|---|
//! | `trade_size` | `contracts_above`, `notional_usd_above` (one or both) | a trade's amount or USD notional is above the value |
//! | `net_gex_crosses` | `threshold_usd` or `threshold_adv`; `direction` | net GEX (or net GEX / ADV) moved from one side of the threshold to the other |
//! | `spot_near_zero_gamma` | `within_pct` | spot came within x % of the zero-gamma level (\|spot − level\| / spot · 100 ≤ x) |
//! | `spot_crosses_wall` | `wall` (`call` or `put`); `direction` | spot moved from one side of the wall to the other |
//! | `scenario_change` | `to` (optional list of scenario names) | the scenario differs from the previous evaluation's (and is one of `to`) |
//! | `short_dated_gamma` | `share_pct_above` | the share of gamma expiring within 24 h rose above p % |
//!
//! Every rule but `trade_size` compares two consecutive evaluations of one currency, so the first evaluation
//! after the service starts is a baseline and fires nothing. "Above" is strictly above; a value exactly on a
//! threshold or wall counts as below it. `direction` is `up` (from below to above), `down` or `either` (the
//! default). The share of gamma expiring within 24 h is Σ (|call GEX| + |put GEX|) over the expiries `e` with
//! `0 < e − t ≤ 24 h`, over the same sum over every expiry of the report, · 100 (no share without gamma).
//!
//! **Cooldown.** After a rule fired for a currency at exchange time `t`, what it would fire for that currency
//! before `t + cooldown` is dropped (not postponed); the state it compares against still moves on, so a crossing
//! during the cooldown is spent. Times are the log's exchange times (a trade's, an evaluation's `at_ms`), so a
//! replay fires what the live session fired. A duration is written with its unit (`30s`, `15m`, `1h`); a bare
//! number is refused.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use dealerflow_engine::exposures::ExpiryExposure;
use dealerflow_engine::report::GexReport;
use dealerflow_engine::scenario::Scenario;
use dealerflow_schemas::DurationMs;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::events::TradeEvent;

/// One day, ms: the horizon of `short_dated_gamma`.
pub const SHORT_DATED_MS: i64 = 86_400_000;

/// Why a rules file was refused: the file, and where in it.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The rules file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// Not TOML (the message has the line and column).
    #[error("{}: {message}", path.display())]
    Syntax {
        /// The rules file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A setting outside any rule or target (an unknown table, the `[delivery]` table).
    #[error("{}: {field}: {message}", path.display())]
    File {
        /// The rules file.
        path: PathBuf,
        /// The setting.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A `[[rule]]` entry.
    #[error("{}: rule {rule}: {field}: {message}", path.display())]
    Rule {
        /// The rules file.
        path: PathBuf,
        /// The rule's name (quoted), or its number when it has none.
        rule: String,
        /// The field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A `[[target]]` entry.
    #[error("{}: target {target}: {field}: {message}", path.display())]
    Target {
        /// The rules file.
        path: PathBuf,
        /// The target's name (quoted), or its number when it has none.
        target: String,
        /// The field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

/// What a rule watches (`when` in the file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    /// A trade above a size.
    TradeSize,
    /// Net GEX (USD, or × ADV) crossing a threshold.
    NetGexCrosses,
    /// Spot within x % of the zero-gamma level.
    SpotNearZeroGamma,
    /// Spot crossing the call or the put wall.
    SpotCrossesWall,
    /// The scenario changed.
    ScenarioChange,
    /// The share of gamma expiring within 24 h above p %.
    ShortDatedGamma,
}

impl When {
    /// The name in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            When::TradeSize => "trade_size",
            When::NetGexCrosses => "net_gex_crosses",
            When::SpotNearZeroGamma => "spot_near_zero_gamma",
            When::SpotCrossesWall => "spot_crosses_wall",
            When::ScenarioChange => "scenario_change",
            When::ShortDatedGamma => "short_dated_gamma",
        }
    }

    /// The parameters this kind of rule takes (besides the common ones).
    fn parameters(self) -> &'static [&'static str] {
        match self {
            When::TradeSize => &["contracts_above", "notional_usd_above"],
            When::NetGexCrosses => &["threshold_usd", "threshold_adv", "direction"],
            When::SpotNearZeroGamma => &["within_pct"],
            When::SpotCrossesWall => &["wall", "direction"],
            When::ScenarioChange => &["to"],
            When::ShortDatedGamma => &["share_pct_above"],
        }
    }
}

/// Which way a crossing counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From below to above.
    Up,
    /// From above to below.
    Down,
    /// Either way.
    #[default]
    Either,
}

impl Direction {
    fn accepts(self, now_above: bool) -> bool {
        match self {
            Direction::Up => now_above,
            Direction::Down => !now_above,
            Direction::Either => true,
        }
    }
}

/// The call or the put wall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wall {
    /// The call wall.
    Call,
    /// The put wall.
    Put,
}

impl Wall {
    fn as_str(self) -> &'static str {
        match self {
            Wall::Call => "call",
            Wall::Put => "put",
        }
    }
}

/// A webhook body's shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// The alert itself as JSON.
    #[default]
    Json,
    /// `{"content": "..."}` (a Discord webhook).
    Discord,
    /// `{"text": "..."}` (a Slack incoming webhook).
    Slack,
}

impl Format {
    /// The name in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Discord => "discord",
            Format::Slack => "slack",
        }
    }
}

/// What a rule tests.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// A trade with more contracts, or more USD notional, than given (either test when both are set).
    TradeSize {
        /// Contracts.
        contracts_above: Option<f64>,
        /// USD notional.
        notional_usd_above: Option<f64>,
    },
    /// Net GEX, or net GEX / ADV, crossing `threshold`.
    NetGexCrosses {
        /// The threshold (USD, or a multiple of ADV).
        threshold: f64,
        /// Whether the value is net GEX / ADV.
        per_adv: bool,
        /// Which crossings count.
        direction: Direction,
    },
    /// Spot entering the band of `within_pct` % around the zero-gamma level.
    SpotNearZeroGamma {
        /// Half-width of the band, percent of spot.
        within_pct: f64,
    },
    /// Spot crossing a wall.
    SpotCrossesWall {
        /// Which wall.
        wall: Wall,
        /// Which crossings count.
        direction: Direction,
    },
    /// A scenario change (into one of `to`, when not empty).
    ScenarioChange {
        /// Scenario names that count (empty: every one).
        to: Vec<String>,
    },
    /// The share of gamma expiring within 24 h rising above `share_pct_above` %.
    ShortDatedGamma {
        /// The share, percent.
        share_pct_above: f64,
    },
}

impl Condition {
    /// The `when` of the rule.
    pub fn when(&self) -> When {
        match self {
            Condition::TradeSize { .. } => When::TradeSize,
            Condition::NetGexCrosses { .. } => When::NetGexCrosses,
            Condition::SpotNearZeroGamma { .. } => When::SpotNearZeroGamma,
            Condition::SpotCrossesWall { .. } => When::SpotCrossesWall,
            Condition::ScenarioChange { .. } => When::ScenarioChange,
            Condition::ShortDatedGamma { .. } => When::ShortDatedGamma,
        }
    }
}

/// One rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Unique name (part of every alert id).
    pub name: String,
    /// The one currency it watches (`None`: every currency).
    pub currency: Option<String>,
    /// Least exchange time between two alerts of the rule for one currency.
    pub cooldown: DurationMs,
    /// Names of the targets it is sent to.
    pub targets: Vec<String>,
    /// What it tests.
    pub condition: Condition,
}

/// Where alerts are sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Unique name.
    pub name: String,
    /// Body shape.
    pub format: Format,
    /// Webhook URL (http or https). It may hold a secret: [`Target::display_url`] is what is shown.
    pub url: String,
}

impl Target {
    /// The URL without its path, query and credentials (webhook URLs carry their secret in the path).
    pub fn display_url(&self) -> String {
        match reqwest::Url::parse(&self.url) {
            Ok(u) => format!(
                "{}://{}{}/…",
                u.scheme(),
                u.host_str().unwrap_or(""),
                u.port().map(|p| format!(":{p}")).unwrap_or_default()
            ),
            Err(_) => "(invalid URL)".into(),
        }
    }
}

/// How deliveries are made and retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliverySettings {
    /// Time limit of one request.
    pub timeout: Duration,
    /// First delay after a failed delivery.
    pub retry_initial: Duration,
    /// Longest delay between two tries.
    pub retry_max: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            timeout: Duration::from_secs(10),
            retry_initial: Duration::from_millis(500),
            retry_max: Duration::from_secs(60),
        }
    }
}

/// A loaded rules file.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertsConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// The rules, in file order.
    pub rules: Vec<Rule>,
    /// The targets, in file order.
    pub targets: Vec<Target>,
    /// Delivery settings.
    pub delivery: DeliverySettings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    name: String,
    when: When,
    currency: Option<String>,
    cooldown: Option<toml::Value>,
    targets: Option<Vec<String>>,
    contracts_above: Option<f64>,
    notional_usd_above: Option<f64>,
    threshold_usd: Option<f64>,
    threshold_adv: Option<f64>,
    direction: Option<Direction>,
    within_pct: Option<f64>,
    wall: Option<Wall>,
    to: Option<Vec<String>>,
    share_pct_above: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetSpec {
    name: String,
    #[serde(default)]
    format: Format,
    url: Option<String>,
    url_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliverySpec {
    timeout: Option<toml::Value>,
    retry_initial: Option<toml::Value>,
    retry_max: Option<toml::Value>,
}

/// The field a serde message is about, when it names one (`unknown field `x``, `missing field `x``).
fn field_of(message: &str) -> Option<String> {
    ["unknown field `", "missing field `", "duplicate field `"]
        .iter()
        .find_map(|p| message.split(p).nth(1))
        .and_then(|rest| rest.split('`').next())
        .map(str::to_string)
}

/// A serde error of one entry as (field, message). A field that the message does not name is found by
/// deserializing the entry's fields one at a time.
fn explain(
    table: &toml::Table,
    err: toml::de::Error,
    probe: impl Fn(&str, &toml::Value) -> Option<String>,
) -> (String, String) {
    let message = err.message().trim().to_string();
    if let Some(field) = field_of(&message) {
        return (field, message);
    }
    for (key, value) in table {
        if let Some(m) = probe(key, value) {
            return (key.clone(), m);
        }
    }
    ("(entry)".into(), message)
}

/// Reads a duration setting: a string with a unit (a bare number is refused with the fix).
fn duration_value(value: &toml::Value, positive: bool) -> Result<DurationMs, String> {
    let text = match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        other => {
            return Err(format!(
                "expected a duration such as \"30s\" or \"15m\", found a {}",
                other.type_str()
            ))
        }
    };
    let parsed = if positive {
        DurationMs::parse_positive(&text)
    } else {
        DurationMs::parse(&text)
    };
    parsed.map_err(|e| e.to_string())
}

/// Whether `name` may name a rule or a target: letters, digits, `-`, `_`, `.`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl AlertsConfig {
    /// Reads and checks a rules file.
    pub fn load(path: &Path) -> Result<AlertsConfig, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        AlertsConfig::parse(path, &text, |name| std::env::var(name).ok())
    }

    /// Checks the text of a rules file (`path` is for messages; `env` resolves `url_env`).
    pub fn parse(
        path: &Path,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<AlertsConfig, RulesError> {
        let path_buf = path.to_path_buf();
        let doc: toml::Table = toml::from_str(text).map_err(|e| RulesError::Syntax {
            path: path_buf.clone(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let file_err = |field: &str, message: String| RulesError::File {
            path: path_buf.clone(),
            field: field.into(),
            message,
        };
        for key in doc.keys() {
            if !matches!(key.as_str(), "rule" | "target" | "delivery") {
                return Err(file_err(
                    key,
                    "unknown setting; a rules file has [delivery], [[target]] and [[rule]]".into(),
                ));
            }
        }
        let entries = |key: &str| -> Result<Vec<toml::Table>, RulesError> {
            match doc.get(key) {
                None => Ok(Vec::new()),
                Some(toml::Value::Array(items)) => items
                    .iter()
                    .map(|v| match v {
                        toml::Value::Table(t) => Ok(t.clone()),
                        _ => Err(file_err(
                            key,
                            format!("write each one as a [[{key}]] table"),
                        )),
                    })
                    .collect(),
                Some(_) => Err(file_err(
                    key,
                    format!("write each one as a [[{key}]] table"),
                )),
            }
        };
        let delivery = match doc.get("delivery") {
            None => DeliverySettings::default(),
            Some(toml::Value::Table(t)) => delivery_settings(t, &file_err)?,
            Some(_) => {
                return Err(file_err(
                    "delivery",
                    "write it as a [delivery] table".into(),
                ))
            }
        };

        let mut targets = Vec::new();
        for (i, table) in entries("target")?.into_iter().enumerate() {
            let label = entry_label(&table, i);
            let err = |field: &str, message: String| RulesError::Target {
                path: path_buf.clone(),
                target: label.clone(),
                field: field.into(),
                message,
            };
            let spec: TargetSpec =
                toml::Value::Table(table.clone())
                    .try_into()
                    .map_err(|e: toml::de::Error| {
                        let (field, message) = explain(&table, e, probe_target_field);
                        err(&field, message)
                    })?;
            if !valid_name(&spec.name) {
                return Err(err(
                    "name",
                    "use letters, digits, '-', '_' and '.' only".into(),
                ));
            }
            if targets.iter().any(|t: &Target| t.name == spec.name) {
                return Err(err("name", "another target has this name".into()));
            }
            let url = match (spec.url, spec.url_env) {
                (Some(u), None) => u,
                (None, Some(var)) => env(&var).filter(|u| !u.trim().is_empty()).ok_or_else(|| {
                    err(
                        "url_env",
                        format!("the environment variable {var} is not set"),
                    )
                })?,
                (Some(_), Some(_)) => {
                    return Err(err("url", "give url or url_env, not both".into()))
                }
                (None, None) => {
                    return Err(err(
                        "url",
                        "missing: give the webhook's url (or url_env, the environment variable that holds it)"
                            .into(),
                    ))
                }
            };
            match reqwest::Url::parse(url.trim()) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
                Ok(_) => {
                    return Err(err(
                        "url",
                        "not an http:// or https:// URL with a host".into(),
                    ))
                }
                Err(e) => return Err(err("url", format!("not a URL ({e})"))),
            }
            targets.push(Target {
                name: spec.name,
                format: spec.format,
                url: url.trim().to_string(),
            });
        }

        let mut rules: Vec<Rule> = Vec::new();
        for (i, table) in entries("rule")?.into_iter().enumerate() {
            let label = entry_label(&table, i);
            let err = |field: &str, message: String| RulesError::Rule {
                path: path_buf.clone(),
                rule: label.clone(),
                field: field.into(),
                message,
            };
            let spec: RuleSpec =
                toml::Value::Table(table.clone())
                    .try_into()
                    .map_err(|e: toml::de::Error| {
                        let (field, message) = explain(&table, e, probe_rule_field);
                        err(&field, message)
                    })?;
            // A parameter of another kind of rule.
            let common = ["name", "when", "currency", "cooldown", "targets"];
            for key in table.keys() {
                if !common.contains(&key.as_str())
                    && !spec.when.parameters().contains(&key.as_str())
                {
                    return Err(err(
                        key,
                        format!(
                            "does not apply to when = \"{}\" (it takes {})",
                            spec.when.as_str(),
                            spec.when.parameters().join(", ")
                        ),
                    ));
                }
            }
            if !valid_name(&spec.name) {
                return Err(err(
                    "name",
                    "use letters, digits, '-', '_' and '.' only".into(),
                ));
            }
            if rules.iter().any(|r| r.name == spec.name) {
                return Err(err("name", "another rule has this name".into()));
            }
            let cooldown = match &spec.cooldown {
                None => DurationMs::ZERO,
                Some(v) => duration_value(v, false).map_err(|m| err("cooldown", m))?,
            };
            let currency = match spec.currency {
                Some(c) if c.trim().is_empty() => {
                    return Err(err(
                        "currency",
                        "empty: leave it out for every currency".into(),
                    ))
                }
                Some(c) => Some(c.trim().to_ascii_uppercase()),
                None => None,
            };
            let rule_targets = match spec.targets {
                None => targets.iter().map(|t| t.name.clone()).collect(),
                Some(names) => {
                    let mut seen = BTreeSet::new();
                    for n in &names {
                        if !targets.iter().any(|t| &t.name == n) {
                            let known: Vec<&str> =
                                targets.iter().map(|t| t.name.as_str()).collect();
                            return Err(err(
                                "targets",
                                format!(
                                    "no target named {n:?} (the file has {})",
                                    if known.is_empty() {
                                        "none".to_string()
                                    } else {
                                        known.join(", ")
                                    }
                                ),
                            ));
                        }
                        if !seen.insert(n.clone()) {
                            return Err(err("targets", format!("{n:?} is named twice")));
                        }
                    }
                    names
                }
            };
            let finite = |field: &str, v: Option<f64>| -> Result<Option<f64>, RulesError> {
                match v {
                    Some(x) if !x.is_finite() => Err(err(field, "not a finite number".into())),
                    v => Ok(v),
                }
            };
            let non_negative = |field: &str, v: Option<f64>| -> Result<Option<f64>, RulesError> {
                match finite(field, v)? {
                    Some(x) if x < 0.0 => {
                        Err(err(field, "negative: give a value of 0 or more".into()))
                    }
                    v => Ok(v),
                }
            };
            let required = |field: &str, v: Option<f64>| -> Result<f64, RulesError> {
                v.ok_or_else(|| {
                    err(
                        field,
                        format!("missing: when = \"{}\" needs it", spec.when.as_str()),
                    )
                })
            };
            let condition = match spec.when {
                When::TradeSize => {
                    let contracts_above = non_negative("contracts_above", spec.contracts_above)?;
                    let notional_usd_above =
                        non_negative("notional_usd_above", spec.notional_usd_above)?;
                    if contracts_above.is_none() && notional_usd_above.is_none() {
                        return Err(err(
                            "contracts_above",
                            "missing: give contracts_above, notional_usd_above or both".into(),
                        ));
                    }
                    Condition::TradeSize {
                        contracts_above,
                        notional_usd_above,
                    }
                }
                When::NetGexCrosses => {
                    let usd = finite("threshold_usd", spec.threshold_usd)?;
                    let adv = finite("threshold_adv", spec.threshold_adv)?;
                    let (threshold, per_adv) = match (usd, adv) {
                        (Some(t), None) => (t, false),
                        (None, Some(t)) => (t, true),
                        (Some(_), Some(_)) => {
                            return Err(err(
                                "threshold_adv",
                                "give threshold_usd or threshold_adv, not both".into(),
                            ))
                        }
                        (None, None) => {
                            return Err(err(
                                "threshold_usd",
                                "missing: give threshold_usd (USD) or threshold_adv (a multiple of ADV)"
                                    .into(),
                            ))
                        }
                    };
                    Condition::NetGexCrosses {
                        threshold,
                        per_adv,
                        direction: spec.direction.unwrap_or_default(),
                    }
                }
                When::SpotNearZeroGamma => {
                    let within_pct =
                        required("within_pct", non_negative("within_pct", spec.within_pct)?)?;
                    Condition::SpotNearZeroGamma { within_pct }
                }
                When::SpotCrossesWall => Condition::SpotCrossesWall {
                    wall: spec.wall.ok_or_else(|| {
                        err("wall", "missing: give wall = \"call\" or \"put\"".into())
                    })?,
                    direction: spec.direction.unwrap_or_default(),
                },
                When::ScenarioChange => {
                    let to = spec.to.unwrap_or_default();
                    for name in &to {
                        if !Scenario::ALL.iter().any(|s| s.as_str() == name) {
                            return Err(err(
                                "to",
                                format!(
                                    "{name:?} is not a scenario (they are {})",
                                    Scenario::ALL.map(Scenario::as_str).join(", ")
                                ),
                            ));
                        }
                    }
                    Condition::ScenarioChange { to }
                }
                When::ShortDatedGamma => {
                    let p = required(
                        "share_pct_above",
                        non_negative("share_pct_above", spec.share_pct_above)?,
                    )?;
                    if p >= 100.0 {
                        return Err(err(
                            "share_pct_above",
                            "a share is at most 100 %: give a value below 100".into(),
                        ));
                    }
                    Condition::ShortDatedGamma { share_pct_above: p }
                }
            };
            rules.push(Rule {
                name: spec.name,
                currency,
                cooldown,
                targets: rule_targets,
                condition,
            });
        }
        Ok(AlertsConfig {
            path: path_buf,
            rules,
            targets,
            delivery,
        })
    }
}

/// `"name"` when the entry has a string name, else `#n` (1-based).
fn entry_label(table: &toml::Table, i: usize) -> String {
    match table.get("name") {
        Some(toml::Value::String(n)) => format!("{n:?}"),
        _ => format!("#{}", i + 1),
    }
}

/// The message of a field of a `[[rule]]` that does not deserialize on its own.
fn probe_rule_field(key: &str, value: &toml::Value) -> Option<String> {
    fn check<T: for<'de> Deserialize<'de>>(v: &toml::Value) -> Option<String> {
        v.clone()
            .try_into::<T>()
            .err()
            .map(|e| e.message().trim().to_string())
    }
    match key {
        "name" | "currency" => check::<String>(value),
        "when" => check::<When>(value),
        "targets" | "to" => check::<Vec<String>>(value),
        "direction" => check::<Direction>(value),
        "wall" => check::<Wall>(value),
        "contracts_above" | "notional_usd_above" | "threshold_usd" | "threshold_adv"
        | "within_pct" | "share_pct_above" => check::<f64>(value),
        _ => None,
    }
}

/// The message of a field of a `[[target]]` that does not deserialize on its own.
fn probe_target_field(key: &str, value: &toml::Value) -> Option<String> {
    let r = match key {
        "name" | "url" | "url_env" => value.clone().try_into::<String>().err(),
        "format" => value.clone().try_into::<Format>().err(),
        _ => None,
    };
    r.map(|e| e.message().trim().to_string())
}

fn delivery_settings(
    t: &toml::Table,
    file_err: &impl Fn(&str, String) -> RulesError,
) -> Result<DeliverySettings, RulesError> {
    let spec: DeliverySpec =
        toml::Value::Table(t.clone())
            .try_into()
            .map_err(|e: toml::de::Error| {
                let message = e.message().trim().to_string();
                let field = field_of(&message).unwrap_or_default();
                file_err(&format!("delivery.{field}"), message)
            })?;
    let mut d = DeliverySettings::default();
    let read = |field: &str, v: &Option<toml::Value>, into: &mut Duration| {
        if let Some(v) = v {
            *into = duration_value(v, true)
                .map_err(|m| file_err(&format!("delivery.{field}"), m))?
                .as_std();
        }
        Ok::<(), RulesError>(())
    };
    read("timeout", &spec.timeout, &mut d.timeout)?;
    read("retry_initial", &spec.retry_initial, &mut d.retry_initial)?;
    read("retry_max", &spec.retry_max, &mut d.retry_max)?;
    if d.retry_max < d.retry_initial {
        return Err(file_err(
            "delivery.retry_max",
            "shorter than delivery.retry_initial".into(),
        ));
    }
    Ok(d)
}

/// What the evaluation rules read of one evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// Underlying currency.
    pub currency: String,
    /// Evaluation time (the log's last exchange time), epoch ms.
    pub at_ms: i64,
    /// Spot, USD.
    pub spot: f64,
    /// Net GEX, USD per 1 %.
    pub net_gamma_exposure_usd: f64,
    /// ADV, USD.
    pub adv_usd: f64,
    /// Zero-gamma level, USD.
    pub zero_gamma_level: Option<f64>,
    /// Call wall, USD.
    pub call_wall: Option<f64>,
    /// Put wall, USD.
    pub put_wall: Option<f64>,
    /// Scenario name.
    pub scenario: String,
    /// Share of gamma expiring within 24 h, percent (module docs).
    pub short_dated_gamma_pct: Option<f64>,
}

impl Observation {
    /// The values of `report`.
    pub fn from_report(report: &GexReport) -> Observation {
        Observation {
            currency: report.currency.clone(),
            at_ms: report.at_ms,
            spot: report.spot,
            net_gamma_exposure_usd: report.net_gamma_exposure_usd,
            adv_usd: report.adv_usd,
            zero_gamma_level: report.zero_gamma_level,
            call_wall: report.call_wall,
            put_wall: report.put_wall,
            scenario: report.scenario.as_str().to_string(),
            short_dated_gamma_pct: short_dated_gamma_pct(report.at_ms, &report.expiries),
        }
    }

    /// Net GEX, or net GEX / ADV (`None` without ADV).
    fn net_gex(&self, per_adv: bool) -> Option<f64> {
        if per_adv {
            (self.adv_usd > 0.0).then(|| self.net_gamma_exposure_usd / self.adv_usd)
        } else {
            Some(self.net_gamma_exposure_usd)
        }
    }

    /// |spot − zero-gamma level| / spot · 100.
    fn distance_to_zero_gamma_pct(&self) -> Option<f64> {
        self.zero_gamma_level
            .filter(|_| self.spot > 0.0)
            .map(|z| (self.spot - z).abs() / self.spot * 100.0)
    }

    fn wall(&self, wall: Wall) -> Option<f64> {
        match wall {
            Wall::Call => self.call_wall,
            Wall::Put => self.put_wall,
        }
    }
}

/// The share of gamma expiring within 24 h of `at_ms`, percent: Σ (|call GEX| + |put GEX|) over the expiries
/// `e` with `0 < e − at_ms ≤ 24 h` over the same sum over every expiry (`None` without gamma).
pub fn short_dated_gamma_pct(at_ms: i64, expiries: &[ExpiryExposure]) -> Option<f64> {
    let mut soon = 0.0;
    let mut all = 0.0;
    for e in expiries {
        let g = e.call_gamma_exposure_usd.abs() + e.put_gamma_exposure_usd.abs();
        all += g;
        let left = e.expiry_ms - at_ms;
        if left > 0 && left <= SHORT_DATED_MS {
            soon += g;
        }
    }
    (all > 0.0 && all.is_finite()).then(|| 100.0 * soon / all)
}

/// A rule that fired (before it becomes an alert: no id or position yet).
#[derive(Clone, Debug, PartialEq)]
pub struct Firing {
    /// Index of the rule in [`RuleEngine::rules`].
    pub rule: usize,
    /// Currency.
    pub currency: String,
    /// Exchange time, epoch ms.
    pub at_ms: i64,
    /// One line for people.
    pub message: String,
    /// What the rule saw.
    pub values: Value,
}

/// The rules with what they remember: the previous evaluation of each currency, and when each rule last fired.
#[derive(Clone, Debug)]
pub struct RuleEngine {
    rules: Vec<Rule>,
    previous: HashMap<String, Observation>,
    last_fired: HashMap<(String, String), i64>,
}

fn usd(x: f64) -> String {
    let rounded = x.round();
    let digits = format!("{}", rounded.abs() as i128);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if rounded < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

fn level(x: Option<f64>) -> String {
    x.map_or_else(|| "none".into(), usd)
}

impl RuleEngine {
    /// The rules, remembering nothing yet.
    pub fn new(rules: Vec<Rule>) -> RuleEngine {
        RuleEngine {
            rules,
            previous: HashMap::new(),
            last_fired: HashMap::new(),
        }
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Remembers that `rule` fired for `currency` at `at_ms` (from the journal, after a restart), so that its
    /// cooldown holds across restarts. Unknown rule names are ignored.
    pub fn fired_before(&mut self, rule: &str, currency: &str, at_ms: i64) {
        if self.rules.iter().any(|r| r.name == rule) {
            let e = self
                .last_fired
                .entry((rule.to_string(), currency.to_string()))
                .or_insert(at_ms);
            *e = (*e).max(at_ms);
        }
    }

    /// Whether the cooldown lets `rule` fire for `currency` at `at_ms`; if so, remembers it fired.
    fn take(&mut self, rule: usize, currency: &str, at_ms: i64) -> bool {
        let r = &self.rules[rule];
        let key = (r.name.clone(), currency.to_string());
        if let Some(&last) = self.last_fired.get(&key) {
            if !r.cooldown.is_zero() && at_ms < last.saturating_add(r.cooldown.as_ms()) {
                return false;
            }
        }
        self.last_fired.insert(key, at_ms);
        true
    }

    fn applies(rule: &Rule, currency: &str) -> bool {
        rule.currency.as_deref().is_none_or(|c| c == currency)
    }

    /// The rules that fire on a trade.
    pub fn on_trade(&mut self, t: &TradeEvent) -> Vec<Firing> {
        let mut out = Vec::new();
        for i in 0..self.rules.len() {
            let rule = &self.rules[i];
            let Condition::TradeSize {
                contracts_above,
                notional_usd_above,
            } = rule.condition
            else {
                continue;
            };
            if !Self::applies(rule, &t.currency) {
                continue;
            }
            let by_amount = contracts_above.is_some_and(|n| t.amount > n);
            let by_notional = notional_usd_above.is_some_and(|n| t.notional_usd > n);
            if !(by_amount || by_notional) {
                continue;
            }
            if !self.take(i, &t.currency, t.ts_exchange_ms) {
                continue;
            }
            let what = match (by_amount, contracts_above, notional_usd_above) {
                (true, Some(n), _) => format!("above {n} contracts"),
                (_, _, Some(n)) => format!("above {} USD notional", usd(n)),
                _ => String::new(),
            };
            out.push(Firing {
                rule: i,
                currency: t.currency.clone(),
                at_ms: t.ts_exchange_ms,
                message: format!(
                    "taker {} of {} {} ({} USD notional) at {}: {what}",
                    t.taker_side,
                    t.amount,
                    t.instrument,
                    usd(t.notional_usd),
                    t.at
                ),
                values: serde_json::to_value(t).unwrap_or(Value::Null),
            });
        }
        out
    }

    /// The rules that fire on an evaluation of `now.currency` (compared with the previous one of that currency).
    pub fn on_evaluation(&mut self, now: &Observation) -> Vec<Firing> {
        let prev = self.previous.insert(now.currency.clone(), now.clone());
        let Some(prev) = prev else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for i in 0..self.rules.len() {
            let rule = &self.rules[i];
            if !Self::applies(rule, &now.currency) {
                continue;
            }
            let fired = match &rule.condition {
                Condition::TradeSize { .. } => None,
                Condition::NetGexCrosses {
                    threshold,
                    per_adv,
                    direction,
                } => match (prev.net_gex(*per_adv), now.net_gex(*per_adv)) {
                    (Some(a), Some(b))
                        if (a > *threshold) != (b > *threshold)
                            && direction.accepts(b > *threshold) =>
                    {
                        let (unit, shown): (&str, fn(f64) -> String) = if *per_adv {
                            ("× ADV", |v| format!("{v:.4}"))
                        } else {
                            ("USD", usd)
                        };
                        Some((
                            format!(
                                "net GEX crossed {} {} {unit}: {} (was {}); spot {}",
                                if b > *threshold { "above" } else { "below" },
                                shown(*threshold),
                                shown(b),
                                shown(a),
                                usd(now.spot)
                            ),
                            json!({
                                "value": b, "previous": a, "threshold": threshold, "per_adv": per_adv,
                                "net_gamma_exposure_usd": now.net_gamma_exposure_usd, "adv_usd": now.adv_usd,
                                "spot": now.spot,
                            }),
                        ))
                    }
                    _ => None,
                },
                Condition::SpotNearZeroGamma { within_pct } => {
                    let inside = |o: &Observation| {
                        o.distance_to_zero_gamma_pct()
                            .is_some_and(|d| d <= *within_pct)
                    };
                    (!inside(&prev) && inside(now)).then(|| {
                        let d = now.distance_to_zero_gamma_pct().unwrap_or(f64::NAN);
                        (
                            format!(
                                "spot {} is within {within_pct} % of the zero-gamma level {} ({d:.3} %)",
                                usd(now.spot),
                                level(now.zero_gamma_level)
                            ),
                            json!({
                                "spot": now.spot, "zero_gamma_level": now.zero_gamma_level,
                                "distance_pct": d, "within_pct": within_pct,
                            }),
                        )
                    })
                }
                Condition::SpotCrossesWall { wall, direction } => {
                    let side = |o: &Observation| o.wall(*wall).map(|w| o.spot > w);
                    match (side(&prev), side(now)) {
                        (Some(a), Some(b)) if a != b && direction.accepts(b) => Some((
                            format!(
                                "spot {} crossed {} the {} wall {} (was {} against {})",
                                usd(now.spot),
                                if b { "above" } else { "below" },
                                wall.as_str(),
                                level(now.wall(*wall)),
                                usd(prev.spot),
                                level(prev.wall(*wall))
                            ),
                            json!({
                                "spot": now.spot, "wall": wall.as_str(), "level": now.wall(*wall),
                                "previous_spot": prev.spot, "previous_level": prev.wall(*wall),
                            }),
                        )),
                        _ => None,
                    }
                }
                Condition::ScenarioChange { to } => (prev.scenario != now.scenario
                    && (to.is_empty() || to.contains(&now.scenario)))
                .then(|| {
                    (
                        format!(
                            "scenario changed from {} to {}; spot {}, net GEX {} USD",
                            prev.scenario,
                            now.scenario,
                            usd(now.spot),
                            usd(now.net_gamma_exposure_usd)
                        ),
                        json!({
                            "scenario": now.scenario, "previous": prev.scenario, "spot": now.spot,
                            "net_gamma_exposure_usd": now.net_gamma_exposure_usd,
                        }),
                    )
                }),
                Condition::ShortDatedGamma { share_pct_above } => {
                    let above = |o: &Observation| {
                        o.short_dated_gamma_pct
                            .is_some_and(|s| s > *share_pct_above)
                    };
                    (!above(&prev) && above(now)).then(|| {
                        let s = now.short_dated_gamma_pct.unwrap_or(f64::NAN);
                        (
                            format!(
                                "{s:.1} % of gamma expires within 24 h (above {share_pct_above} %)"
                            ),
                            json!({
                                "share_pct": s, "previous_share_pct": prev.short_dated_gamma_pct,
                                "share_pct_above": share_pct_above,
                            }),
                        )
                    })
                }
            };
            if let Some((message, values)) = fired {
                if self.take(i, &now.currency, now.at_ms) {
                    out.push(Firing {
                        rule: i,
                        currency: now.currency.clone(),
                        at_ms: now.at_ms,
                        message,
                        values,
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AlertsConfig, RulesError> {
        AlertsConfig::parse(Path::new("conf/rules.toml"), text, |v| {
            (v == "HOOK_URL").then(|| "https://hooks.example/abc/secret".to_string())
        })
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    const EXAMPLE: &str = r#"
[delivery]
timeout = "5s"
retry_initial = "200ms"
retry_max = "30s"

[[target]]
name = "hook"
url = "http://127.0.0.1:9/alerts"

[[target]]
name = "chat"
format = "discord"
url_env = "HOOK_URL"

[[rule]]
name = "big-trade"
when = "trade_size"
contracts_above = 25
notional_usd_above = 1_000_000.5
cooldown = "5m"
currency = "btc"

[[rule]]
name = "gex-flip"
when = "net_gex_crosses"
threshold_usd = 0
direction = "down"
targets = ["chat"]

[[rule]]
name = "gex-adv"
when = "net_gex_crosses"
threshold_adv = 0.25

[[rule]]
name = "near-flip"
when = "spot_near_zero_gamma"
within_pct = 0.5

[[rule]]
name = "call-wall"
when = "spot_crosses_wall"
wall = "call"
direction = "up"

[[rule]]
name = "regime"
when = "scenario_change"
to = ["amplified", "flip_zone"]

[[rule]]
name = "expiring"
when = "short_dated_gamma"
share_pct_above = 40
"#;

    #[test]
    fn the_example_file_reads() {
        let c = parse(EXAMPLE).unwrap();
        assert_eq!(
            c.delivery,
            DeliverySettings {
                timeout: Duration::from_secs(5),
                retry_initial: Duration::from_millis(200),
                retry_max: Duration::from_secs(30),
            }
        );
        assert_eq!(c.targets.len(), 2);
        assert_eq!(c.targets[1].url, "https://hooks.example/abc/secret");
        assert_eq!(c.targets[1].format, Format::Discord);
        assert_eq!(c.targets[1].display_url(), "https://hooks.example/…");
        assert_eq!(c.targets[0].format, Format::Json);
        let r = &c.rules;
        assert_eq!(r.len(), 7);
        assert_eq!(r[0].currency.as_deref(), Some("BTC"));
        assert_eq!(r[0].cooldown.as_ms(), 300_000);
        assert_eq!(r[0].targets, ["hook", "chat"]);
        assert_eq!(
            r[0].condition,
            Condition::TradeSize {
                contracts_above: Some(25.0),
                notional_usd_above: Some(1_000_000.5)
            }
        );
        assert_eq!(r[1].targets, ["chat"]);
        assert_eq!(r[1].cooldown, DurationMs::ZERO);
        assert_eq!(
            r[1].condition,
            Condition::NetGexCrosses {
                threshold: 0.0,
                per_adv: false,
                direction: Direction::Down
            }
        );
        assert!(matches!(
            r[2].condition,
            Condition::NetGexCrosses {
                per_adv: true,
                direction: Direction::Either,
                ..
            }
        ));
        assert_eq!(r[6].condition.when().as_str(), "short_dated_gamma");
        assert_eq!(parse("").unwrap().rules.len(), 0);
    }

    #[test]
    fn errors_name_file_rule_and_field() {
        let rule = |body: &str| format!("{TARGET}[[rule]]\nname = \"a\"\n{body}");
        for (text, want) in [
            (
                rule("when = \"trade_size\"\ncontracts_above = \"x\"\n"),
                "conf/rules.toml: rule \"a\": contracts_above: invalid type: string \"x\"",
            ),
            (
                rule("when = \"trade_sise\"\n"),
                "conf/rules.toml: rule \"a\": when: unknown variant `trade_sise`",
            ),
            (
                rule("when = \"trade_size\"\ncontracts = 3\n"),
                "conf/rules.toml: rule \"a\": contracts: unknown field `contracts`",
            ),
            (
                format!("{TARGET}[[rule]]\nwhen = \"trade_size\"\ncontracts_above = 3\n"),
                "conf/rules.toml: rule #1: name: missing field `name`",
            ),
            (
                rule("when = \"trade_size\"\ncontracts_above = 3\ncooldown = 30\n"),
                "conf/rules.toml: rule \"a\": cooldown: \"30\" has no unit: write 30s",
            ),
            (
                rule("when = \"trade_size\"\ncontracts_above = 3\ncooldown = \"30\"\n"),
                "conf/rules.toml: rule \"a\": cooldown: \"30\" has no unit",
            ),
            (
                rule("when = \"trade_size\"\ncontracts_above = 3\nwithin_pct = 1\n"),
                "rule \"a\": within_pct: does not apply to when = \"trade_size\" (it takes contracts_above, notional_usd_above)",
            ),
            (
                rule("when = \"trade_size\"\n"),
                "rule \"a\": contracts_above: missing: give contracts_above, notional_usd_above or both",
            ),
            (
                rule("when = \"trade_size\"\ncontracts_above = -1\n"),
                "rule \"a\": contracts_above: negative",
            ),
            (
                rule("when = \"net_gex_crosses\"\n"),
                "rule \"a\": threshold_usd: missing",
            ),
            (
                rule("when = \"net_gex_crosses\"\nthreshold_usd = 1\nthreshold_adv = 1\n"),
                "rule \"a\": threshold_adv: give threshold_usd or threshold_adv, not both",
            ),
            (
                rule("when = \"net_gex_crosses\"\nthreshold_usd = 1\ndirection = \"sideways\"\n"),
                "rule \"a\": direction: unknown variant `sideways`",
            ),
            (
                rule("when = \"spot_near_zero_gamma\"\n"),
                "rule \"a\": within_pct: missing: when = \"spot_near_zero_gamma\" needs it",
            ),
            (rule("when = \"spot_crosses_wall\"\n"), "rule \"a\": wall: missing"),
            (
                rule("when = \"scenario_change\"\nto = [\"calm\"]\n"),
                "rule \"a\": to: \"calm\" is not a scenario (they are neutral, flip_zone",
            ),
            (
                rule("when = \"short_dated_gamma\"\nshare_pct_above = 100\n"),
                "rule \"a\": share_pct_above: a share is at most 100 %",
            ),
            (
                rule("when = \"trade_size\"\ncontracts_above = 1\ntargets = [\"pager\"]\n"),
                "rule \"a\": targets: no target named \"pager\" (the file has ops)",
            ),
            (
                format!("{TARGET}[[rule]]\nname = \"a b\"\nwhen = \"scenario_change\"\n"),
                "rule \"a b\": name: use letters, digits",
            ),
            (
                format!(
                    "{TARGET}[[rule]]\nname = \"a\"\nwhen = \"scenario_change\"\n[[rule]]\nname = \"a\"\nwhen = \"scenario_change\"\n"
                ),
                "rule \"a\": name: another rule has this name",
            ),
            (
                "[[target]]\nname = \"t\"\nurl = \"ftp://x/y\"\n".to_string(),
                "conf/rules.toml: target \"t\": url: not an http:// or https:// URL",
            ),
            (
                "[[target]]\nname = \"t\"\nurl_env = \"NOPE\"\n".to_string(),
                "target \"t\": url_env: the environment variable NOPE is not set",
            ),
            (
                "[[target]]\nname = \"t\"\n".to_string(),
                "target \"t\": url: missing",
            ),
            (
                "[[target]]\nname = \"t\"\nurl = \"http://h/\"\nformat = \"teams\"\n".to_string(),
                "target \"t\": format: unknown variant `teams`",
            ),
            (
                "[[target]]\nname = \"t\"\nurl = \"http://h/\"\nheaders = 1\n".to_string(),
                "target \"t\": headers: unknown field `headers`",
            ),
            (
                "[rules]\n".to_string(),
                "conf/rules.toml: rules: unknown setting",
            ),
            (
                "[delivery]\nretry_max = \"1s\"\nretry_initial = \"2s\"\n".to_string(),
                "conf/rules.toml: delivery.retry_max: shorter than delivery.retry_initial",
            ),
            (
                "[delivery]\ntimeout = 10\n".to_string(),
                "conf/rules.toml: delivery.timeout: \"10\" has no unit",
            ),
            (
                "[delivery]\nretries = 10\n".to_string(),
                "conf/rules.toml: delivery.retries: unknown field `retries`",
            ),
        ] {
            let e = err(&text);
            assert!(e.contains(want), "{text}\n=> {e}\nwant {want}");
        }
        let e = err("[[rule]]\nname = \"a\"\nwhen = = 1\n");
        assert!(
            e.starts_with("conf/rules.toml: TOML parse error at line 3"),
            "{e}"
        );
    }

    const TARGET: &str = "[[target]]\nname = \"ops\"\nurl = \"http://127.0.0.1:9/x\"\n";

    fn rule(name: &str, cooldown_ms: i64, condition: Condition) -> Rule {
        Rule {
            name: name.into(),
            currency: None,
            cooldown: DurationMs::from_ms(cooldown_ms).unwrap(),
            targets: vec![],
            condition,
        }
    }

    fn obs(at_ms: i64, spot: f64, net: f64) -> Observation {
        Observation {
            currency: "BTC".into(),
            at_ms,
            spot,
            net_gamma_exposure_usd: net,
            adv_usd: 1_000.0,
            zero_gamma_level: None,
            call_wall: None,
            put_wall: None,
            scenario: "neutral".into(),
            short_dated_gamma_pct: None,
        }
    }

    fn fired_at(engine: &mut RuleEngine, seq: &[Observation]) -> Vec<(usize, i64)> {
        seq.iter()
            .flat_map(|o| engine.on_evaluation(o))
            .map(|f| (f.rule, f.at_ms))
            .collect()
    }

    #[test]
    fn a_crossing_fires_once_per_crossing() {
        let net = |t, v| obs(t, 60_000.0, v);
        let seq = [
            net(1, 10.0),
            net(2, -5.0),
            net(3, -6.0),
            net(4, 0.0),
            net(5, 3.0),
            net(6, 4.0),
            net(7, -1.0),
        ];
        let cross = |d| Condition::NetGexCrosses {
            threshold: 0.0,
            per_adv: false,
            direction: d,
        };
        let mut e = RuleEngine::new(vec![
            rule("either", 0, cross(Direction::Either)),
            rule("down", 0, cross(Direction::Down)),
            rule("up", 0, cross(Direction::Up)),
        ]);
        let got = fired_at(&mut e, &seq);
        // The first evaluation is the baseline; 0 is "not above" 0.
        assert_eq!(
            got,
            [(0, 2), (1, 2), (0, 5), (2, 5), (0, 7), (1, 7)],
            "{got:?}"
        );
        // × ADV: −0.5 → 0.6 of ADV crosses 0.25 once; without ADV there is no value.
        let mut e = RuleEngine::new(vec![rule(
            "adv",
            0,
            Condition::NetGexCrosses {
                threshold: 0.25,
                per_adv: true,
                direction: Direction::Either,
            },
        )]);
        let mut no_adv = net(3, 900.0);
        no_adv.adv_usd = 0.0;
        let got = fired_at(
            &mut e,
            &[
                net(1, -500.0),
                net(2, 600.0),
                no_adv,
                net(4, -100.0),
                net(5, 300.0),
            ],
        );
        assert_eq!(got, [(0, 2), (0, 5)]);
        let f = e.on_evaluation(&net(6, -100.0)).remove(0);
        assert!(
            f.message
                .contains("net GEX crossed below 0.2500 × ADV: -0.1000"),
            "{}",
            f.message
        );
    }

    #[test]
    fn the_cooldown_drops_what_fires_too_soon_and_the_crossing_is_spent() {
        let net = |t, v| obs(t, 60_000.0, v);
        let mut e = RuleEngine::new(vec![rule(
            "flip",
            100,
            Condition::NetGexCrosses {
                threshold: 0.0,
                per_adv: false,
                direction: Direction::Either,
            },
        )]);
        let got = fired_at(
            &mut e,
            &[
                net(0, 1.0),
                net(10, -1.0),  // fires
                net(50, 1.0),   // within 100 ms: dropped
                net(109, 2.0),  // no crossing (the one at 50 is spent)
                net(110, -1.0), // fires: exactly the cooldown later
                net(111, 1.0),  // dropped
            ],
        );
        assert_eq!(got, [(0, 10), (0, 110)]);
        // Restored from the journal: the cooldown holds from the last alert before a restart.
        let mut e = RuleEngine::new(vec![rule(
            "flip",
            100,
            Condition::NetGexCrosses {
                threshold: 0.0,
                per_adv: false,
                direction: Direction::Either,
            },
        )]);
        e.fired_before("flip", "BTC", 1_000);
        e.fired_before("flip", "BTC", 900);
        e.fired_before("gone", "BTC", 5_000);
        let got = fired_at(
            &mut e,
            &[net(1_010, 1.0), net(1_050, -1.0), net(1_100, 1.0)],
        );
        assert_eq!(got, [(0, 1_100)]);
    }

    fn trade(seq: u64, ts: i64, currency: &str, amount: f64, notional: f64) -> TradeEvent {
        TradeEvent {
            seq,
            ts_exchange_ms: ts,
            at: dealerflow_schemas::time::format_ms(ts),
            currency: currency.into(),
            instrument: format!("{currency}-17AUG26-63000-C"),
            option_kind: "call",
            strike: 63_000.0,
            expiry_ms: 1_786_953_600_000,
            trade_id: seq.to_string(),
            taker_side: "buy",
            amount,
            dealer_position_change: -amount,
            price: 0.01,
            index_price: 63_000.0,
            iv: None,
            notional_usd: notional,
        }
    }

    #[test]
    fn trade_size_fires_above_either_limit_per_currency_with_its_cooldown() {
        let mut size = rule(
            "big",
            1_000,
            Condition::TradeSize {
                contracts_above: Some(10.0),
                notional_usd_above: None,
            },
        );
        size.currency = Some("BTC".into());
        let usd = rule(
            "rich",
            0,
            Condition::TradeSize {
                contracts_above: Some(100.0),
                notional_usd_above: Some(50_000.0),
            },
        );
        let mut e = RuleEngine::new(vec![size, usd]);
        let mut got = Vec::new();
        for t in [
            trade(1, 0, "BTC", 10.0, 630_000.0), // not above 10; rich by notional
            trade(2, 10, "BTC", 10.5, 1_000.0),  // big
            trade(3, 500, "BTC", 20.0, 1_000.0), // big, within its cooldown
            trade(4, 600, "ETH", 20.0, 1_000.0), // big watches BTC only
            trade(5, 1_010, "BTC", 11.0, 1_000.0), // big again
            trade(6, 1_020, "ETH", 101.0, 10.0), // rich by contracts
        ] {
            for f in e.on_trade(&t) {
                got.push((e.rules()[f.rule].name.clone(), t.seq));
            }
        }
        let want: Vec<(String, u64)> = [("rich", 1), ("big", 2), ("big", 5), ("rich", 6)]
            .iter()
            .map(|(r, s)| (r.to_string(), *s))
            .collect();
        assert_eq!(got, want);
        let f = e
            .on_trade(&trade(7, 5_000, "BTC", 12.0, 756_000.0))
            .remove(0);
        assert_eq!(
            f.message,
            "taker buy of 12 BTC-17AUG26-63000-C (756,000 USD notional) at 1970-01-01T00:00:05.000Z: above 10 contracts"
        );
        assert_eq!(f.values["seq"], 7);
    }

    #[test]
    fn level_rules_fire_on_entering() {
        let at = |t: i64, spot: f64, zgl: Option<f64>| Observation {
            zero_gamma_level: zgl,
            ..obs(t, spot, 0.0)
        };
        let mut e = RuleEngine::new(vec![rule(
            "near",
            0,
            Condition::SpotNearZeroGamma { within_pct: 1.0 },
        )]);
        let got = fired_at(
            &mut e,
            &[
                at(1, 100.0, Some(100.5)), // inside, but the baseline
                at(2, 100.0, Some(99.5)),  // still inside
                at(3, 100.0, Some(98.0)),  // out (2 %)
                at(4, 100.0, Some(99.0)),  // in: exactly 1 %
                at(5, 100.0, None),        // no level: out
                at(6, 100.0, Some(100.0)), // in
            ],
        );
        assert_eq!(got, [(0, 4), (0, 6)]);

        let share = |t: i64, s: Option<f64>| Observation {
            short_dated_gamma_pct: s,
            ..obs(t, 1.0, 0.0)
        };
        let mut e = RuleEngine::new(vec![rule(
            "expiring",
            0,
            Condition::ShortDatedGamma {
                share_pct_above: 40.0,
            },
        )]);
        let got = fired_at(
            &mut e,
            &[
                share(1, Some(10.0)),
                share(2, Some(40.0)),
                share(3, Some(41.0)),
                share(4, Some(90.0)),
                share(5, None),
                share(6, Some(50.0)),
            ],
        );
        assert_eq!(got, [(0, 3), (0, 6)]);
    }

    #[test]
    fn walls_and_scenarios() {
        let w = |t: i64, spot: f64, call: Option<f64>| Observation {
            call_wall: call,
            put_wall: Some(50.0),
            ..obs(t, spot, 0.0)
        };
        let mut e = RuleEngine::new(vec![
            rule(
                "call-up",
                0,
                Condition::SpotCrossesWall {
                    wall: Wall::Call,
                    direction: Direction::Up,
                },
            ),
            rule(
                "put-any",
                0,
                Condition::SpotCrossesWall {
                    wall: Wall::Put,
                    direction: Direction::Either,
                },
            ),
        ]);
        let got = fired_at(
            &mut e,
            &[
                w(1, 99.0, Some(100.0)),
                w(2, 101.0, Some(100.0)), // call up
                w(3, 101.0, Some(102.0)), // the wall moved above spot: a crossing down
                w(4, 103.0, Some(102.0)), // call up
                w(5, 103.0, None),        // no wall
                w(6, 99.0, Some(100.0)),  // no previous side
                w(7, 49.0, Some(100.0)),  // put: below
                w(8, 50.0, Some(100.0)),  // on the wall is below
                w(9, 50.5, Some(100.0)),  // put: above
            ],
        );
        assert_eq!(got, [(0, 2), (0, 4), (1, 7), (1, 9)]);

        let s = |t: i64, name: &str| Observation {
            scenario: name.into(),
            ..obs(t, 1.0, 0.0)
        };
        let mut e = RuleEngine::new(vec![
            rule("any", 0, Condition::ScenarioChange { to: vec![] }),
            rule(
                "bad",
                0,
                Condition::ScenarioChange {
                    to: vec!["amplified".into()],
                },
            ),
        ]);
        let got = fired_at(
            &mut e,
            &[
                s(1, "neutral"),
                s(2, "neutral"),
                s(3, "amplified"),
                s(4, "dampened"),
                s(5, "amplified"),
            ],
        );
        assert_eq!(got, [(0, 3), (1, 3), (0, 4), (0, 5), (1, 5)]);
        // Currencies are followed apart.
        let mut eth = s(6, "pinned");
        eth.currency = "ETH".into();
        assert!(e.on_evaluation(&eth).is_empty());
    }

    #[test]
    fn short_dated_share() {
        let exp = |expiry_ms: i64, call: f64, put: f64| ExpiryExposure {
            expiry_ms,
            expiry: String::new(),
            tau_years: 0.0,
            call_gamma_exposure_usd: call,
            put_gamma_exposure_usd: put,
            net_gamma_exposure_usd: call + put,
            delta_exposure_usd: 0.0,
            vanna_exposure_usd: 0.0,
            charm_24h_usd: 0.0,
            volga_exposure_usd: 0.0,
            ..ExpiryExposure::default()
        };
        let t = 1_000_000;
        let share = short_dated_gamma_pct(
            t,
            &[
                exp(t, 1_000.0, 0.0),               // expired now: not within
                exp(t + 1, 30.0, -10.0),            // 40
                exp(t + SHORT_DATED_MS, 0.0, 20.0), // 20
                exp(t + SHORT_DATED_MS + 1, -40.0, 0.0),
            ],
        )
        .unwrap();
        assert!((share - 100.0 * 60.0 / 1_100.0).abs() < 1e-12, "{share}");
        assert_eq!(short_dated_gamma_pct(t, &[]), None);
        assert_eq!(short_dated_gamma_pct(t, &[exp(t + 1, 0.0, 0.0)]), None);
    }
}
