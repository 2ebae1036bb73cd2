//! Core Lightning's state as Prometheus metrics, for `openlsp exporter cln`: the answers of four
//! read-only CLNRest calls decoded and turned into the text exposition format. Pure, so every
//! metric is unit tested from JSON shaped like CLN's own schemas; the command does the I/O.
//!
//! Every key read here is documented in ElementsProject/lightning's doc/schemas/ (v26.06:
//! getinfo.json, listfunds.json, listpeerchannels.json, listpeers.json). openlsp ships this
//! exporter itself because no maintained one exists (docs/rendering.md, "Core Lightning's
//! exporter").

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

/// The CLN RPC methods one refresh calls, each as `POST /v1/<method>` with the read-only rune.
pub const METHODS: [&str; 4] = ["getinfo", "listfunds", "listpeerchannels", "listpeers"];

/// Every channel state listpeerchannels.json documents: each gets a series, 0 when no channel
/// is in it, so a dashboard's lines do not come and go. A state CLN adds later is reported too.
const CHANNEL_STATES: [&str; 14] = [
    "OPENINGD",
    "CHANNELD_AWAITING_LOCKIN",
    "CHANNELD_NORMAL",
    "CHANNELD_SHUTTING_DOWN",
    "CLOSINGD_SIGEXCHANGE",
    "CLOSINGD_COMPLETE",
    "AWAITING_UNILATERAL",
    "FUNDING_SPEND_SEEN",
    "ONCHAIN",
    "DUALOPEND_OPEN_INIT",
    "DUALOPEND_AWAITING_LOCKIN",
    "CHANNELD_AWAITING_SPLICE",
    "DUALOPEND_OPEN_COMMITTED",
    "DUALOPEND_OPEN_COMMIT_READY",
];

/// listfunds' output statuses (`spent` is only listed on request, which the exporter never makes).
const OUTPUT_STATUSES: [&str; 3] = ["confirmed", "unconfirmed", "immature"];

#[derive(Debug, thiserror::Error)]
pub enum ClnMetricsError {
    #[error("CLN's {method} answer is not what its schema documents: {source}")]
    Decode {
        method: &'static str,
        source: serde_json::Error,
    },
}

/// getinfo: who and where the node is, and whether it is still catching up with the chain.
#[derive(Debug, Deserialize)]
struct GetInfo {
    id: String,
    alias: String,
    version: String,
    network: String,
    blockheight: u64,
    fees_collected_msat: u64,
    /// Present while bitcoind is not up to date with the network.
    warning_bitcoind_sync: Option<String>,
    /// Present while lightningd is still loading the latest blocks from bitcoind.
    warning_lightningd_sync: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ListFunds {
    outputs: Vec<FundsOutput>,
    channels: Vec<FundsChannel>,
}

#[derive(Debug, Deserialize)]
struct FundsOutput {
    amount_msat: u64,
    status: String,
}

#[derive(Debug, Deserialize)]
struct FundsChannel {
    /// Our side of the channel.
    our_amount_msat: u64,
    /// The channel's total value.
    amount_msat: u64,
    state: String,
}

#[derive(Debug, Deserialize)]
struct ListPeerChannels {
    channels: Vec<PeerChannel>,
}

#[derive(Debug, Deserialize)]
struct PeerChannel {
    state: String,
    peer_connected: bool,
}

#[derive(Debug, Deserialize)]
struct ListPeers {
    peers: Vec<Peer>,
}

#[derive(Debug, Deserialize)]
struct Peer {
    connected: bool,
}

/// One refresh's answers, decoded.
#[derive(Debug)]
pub struct Snapshot {
    info: GetInfo,
    funds: ListFunds,
    channels: ListPeerChannels,
    peers: ListPeers,
}

impl Snapshot {
    /// Decodes the answers to [`METHODS`], in that order.
    pub fn decode(answers: &[Vec<u8>; 4]) -> Result<Self, ClnMetricsError> {
        Ok(Self {
            info: decode(METHODS[0], &answers[0])?,
            funds: decode(METHODS[1], &answers[1])?,
            channels: decode(METHODS[2], &answers[2])?,
            peers: decode(METHODS[3], &answers[3])?,
        })
    }
}

fn decode<T: for<'de> Deserialize<'de>>(
    method: &'static str,
    body: &[u8],
) -> Result<T, ClnMetricsError> {
    serde_json::from_slice(body).map_err(|source| ClnMetricsError::Decode { method, source })
}

/// The exposition text: everything from the snapshot with `cln_up 1`, or only `cln_up 0` when
/// the last refresh failed (stale numbers would hide that the node is gone).
pub fn exposition(snapshot: Option<&Snapshot>) -> String {
    let mut out = Exposition::default();
    out.gauge(
        "cln_up",
        "1 if the last refresh of every CLNRest call succeeded, else 0.",
        &[(vec![], u64::from(snapshot.is_some()))],
    );
    let Some(s) = snapshot else {
        return out.text;
    };
    let info = &s.info;
    out.gauge(
        "cln_info",
        "The node's identity and version (always 1).",
        &[(
            vec![
                ("id", info.id.as_str()),
                ("alias", info.alias.as_str()),
                ("version", info.version.as_str()),
                ("network", info.network.as_str()),
            ],
            1,
        )],
    );
    out.gauge(
        "cln_block_height",
        "The highest block height lightningd has learned (getinfo blockheight).",
        &[(vec![], info.blockheight)],
    );
    let synced = info.warning_bitcoind_sync.is_none() && info.warning_lightningd_sync.is_none();
    out.gauge(
        "cln_synced_to_chain",
        "1 unless getinfo warns that bitcoind or lightningd is still syncing, else 0.",
        &[(vec![], u64::from(synced))],
    );
    out.gauge(
        "cln_fees_collected_sat",
        "Routing fees collected by this node since it started, in sat.",
        &[(vec![], info.fees_collected_msat / 1000)],
    );
    let connected = s.peers.peers.iter().filter(|p| p.connected).count() as u64;
    out.gauge(
        "cln_peers",
        "Peers by connection: connected now, or known (with a channel) but not connected.",
        &[
            (vec![("connected", "true")], connected),
            (
                vec![("connected", "false")],
                s.peers.peers.len() as u64 - connected,
            ),
        ],
    );
    let mut by_state = zeroed(&CHANNEL_STATES);
    let mut offline = 0;
    for channel in &s.channels.channels {
        *by_state.entry(channel.state.as_str()).or_default() += 1;
        if channel.state == "CHANNELD_NORMAL" && !channel.peer_connected {
            offline += 1;
        }
    }
    out.gauge(
        "cln_channels",
        "Channels by state (listpeerchannels); CHANNELD_NORMAL can be used.",
        &labelled("state", &by_state),
    );
    out.gauge(
        "cln_channels_normal_peer_offline",
        "Channels in CHANNELD_NORMAL whose peer is not connected: they cannot route now.",
        &[(vec![], offline)],
    );
    let mut wallet = zeroed(&OUTPUT_STATUSES);
    for output in &s.funds.outputs {
        *wallet.entry(output.status.as_str()).or_default() += output.amount_msat;
    }
    out.gauge(
        "cln_wallet_balance_sat",
        "On-chain funds of the node's wallet by output status, in sat.",
        &labelled("status", &to_sat(wallet)),
    );
    let mut ours = BTreeMap::new();
    let mut capacity = BTreeMap::new();
    for channel in &s.funds.channels {
        *ours.entry(channel.state.as_str()).or_default() += channel.our_amount_msat;
        *capacity.entry(channel.state.as_str()).or_default() += channel.amount_msat;
    }
    out.gauge(
        "cln_channel_balance_sat",
        "Our side of the channels by channel state (listfunds), in sat.",
        &labelled("state", &to_sat(ours)),
    );
    out.gauge(
        "cln_channel_capacity_sat",
        "Total value of the channels by channel state (listfunds), in sat.",
        &labelled("state", &to_sat(capacity)),
    );
    out.text
}

fn zeroed<'a>(keys: &[&'a str]) -> BTreeMap<&'a str, u64> {
    keys.iter().map(|key| (*key, 0)).collect()
}

/// msat to whole sat, rounded down: what a wallet shows.
fn to_sat(msat: BTreeMap<&str, u64>) -> BTreeMap<&str, u64> {
    msat.into_iter().map(|(k, v)| (k, v / 1000)).collect()
}

fn labelled<'a>(
    label: &'static str,
    values: &BTreeMap<&'a str, u64>,
) -> Vec<(Vec<(&'static str, &'a str)>, u64)> {
    values
        .iter()
        .map(|(value, n)| (vec![(label, *value)], *n))
        .collect()
}

/// The Prometheus text format (0.0.4), which `promtool check metrics` reads: gauges only, so a
/// few lines of writing suffice (the prometheus-client crate writes OpenMetrics instead).
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn gauge(&mut self, name: &str, help: &str, samples: &[(Vec<(&str, &str)>, u64)]) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} gauge");
        for (labels, value) in samples {
            self.text.push_str(name);
            if !labels.is_empty() {
                let pairs: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                    .collect();
                let _ = write!(self.text, "{{{}}}", pairs.join(","));
            }
            let _ = writeln!(self.text, " {value}");
        }
    }
}

/// A label value as the text format wants it: backslash, double quote and newline escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// getinfo as in getinfo.json's example, while bitcoind is still syncing.
    const GETINFO: &str = r#"{
        "id": "nodeid020202020202020202020202020202020202020202020202020202020202",
        "alias": "SILENT\"ARTIST", "color": "022d22",
        "num_peers": 2, "num_pending_channels": 0, "num_active_channels": 1,
        "num_inactive_channels": 0, "address": [],
        "binding": [{"type": "ipv4", "address": "127.0.0.1", "port": 19735}],
        "version": "v26.06.6", "blockheight": 110, "network": "regtest",
        "fees_collected_msat": 2500, "lightning-dir": "/tmp/.lightning/regtest",
        "our_features": {"init": "08", "node": "88", "channel": "", "invoice": "02"},
        "warning_bitcoind_sync": "Bitcoind is not up-to-date with network."
    }"#;

    /// listfunds.json's shape: three outputs, two channels.
    const LISTFUNDS: &str = r#"{
        "outputs": [
            {"txid": "t1", "output": 2, "amount_msat": 26000000, "scriptpubkey": "00",
             "status": "confirmed", "blockheight": 160, "reserved": false},
            {"txid": "t2", "output": 3, "amount_msat": 27000500, "scriptpubkey": "00",
             "status": "confirmed", "blockheight": 160, "reserved": false},
            {"txid": "t3", "output": 4, "amount_msat": 1000000, "scriptpubkey": "00",
             "status": "unconfirmed", "reserved": false}
        ],
        "channels": [
            {"peer_id": "p1", "connected": true, "state": "CHANNELD_NORMAL",
             "channel_id": "c1", "short_channel_id": "109x1x1", "our_amount_msat": 36000000,
             "amount_msat": 110000000, "funding_txid": "f1", "funding_output": 1},
            {"peer_id": "p2", "connected": false, "state": "ONCHAIN",
             "channel_id": "c2", "our_amount_msat": 5000999,
             "amount_msat": 9000000, "funding_txid": "f2", "funding_output": 0}
        ]
    }"#;

    /// listpeerchannels.json's shape, only the keys the exporter reads beside a few others.
    const LISTPEERCHANNELS: &str = r#"{"channels": [
        {"peer_id": "p1", "peer_connected": true, "state": "CHANNELD_NORMAL", "opener": "local",
         "features": [], "to_us_msat": 36000000, "total_msat": 110000000},
        {"peer_id": "p3", "peer_connected": false, "state": "CHANNELD_NORMAL", "opener": "remote",
         "features": []},
        {"peer_id": "p2", "peer_connected": false, "state": "ONCHAIN", "opener": "local",
         "features": []},
        {"peer_id": "p4", "peer_connected": true, "state": "SOME_FUTURE_STATE", "opener": "local",
         "features": []}
    ]}"#;

    const LISTPEERS: &str = r#"{"peers": [
        {"id": "p1", "connected": true, "num_channels": 1},
        {"id": "p2", "connected": false, "num_channels": 1},
        {"id": "p4", "connected": true, "num_channels": 1}
    ]}"#;

    fn snapshot(getinfo: &str) -> Snapshot {
        Snapshot::decode(&[
            getinfo.as_bytes().to_vec(),
            LISTFUNDS.as_bytes().to_vec(),
            LISTPEERCHANNELS.as_bytes().to_vec(),
            LISTPEERS.as_bytes().to_vec(),
        ])
        .unwrap()
    }

    fn sample<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
    }

    #[test]
    fn a_refresh_maps_to_every_metric() {
        let text = exposition(Some(&snapshot(GETINFO)));
        let expected = [
            ("cln_up", "1"),
            ("cln_block_height", "110"),
            ("cln_synced_to_chain", "0"),
            ("cln_fees_collected_sat", "2"),
            ("cln_peers{connected=\"true\"}", "2"),
            ("cln_peers{connected=\"false\"}", "1"),
            ("cln_channels{state=\"CHANNELD_NORMAL\"}", "2"),
            ("cln_channels{state=\"ONCHAIN\"}", "1"),
            ("cln_channels{state=\"OPENINGD\"}", "0"),
            ("cln_channels{state=\"SOME_FUTURE_STATE\"}", "1"),
            ("cln_channels_normal_peer_offline", "1"),
            // 26000 + 27000.5 sat, rounded down once.
            ("cln_wallet_balance_sat{status=\"confirmed\"}", "53000"),
            ("cln_wallet_balance_sat{status=\"unconfirmed\"}", "1000"),
            ("cln_wallet_balance_sat{status=\"immature\"}", "0"),
            (
                "cln_channel_balance_sat{state=\"CHANNELD_NORMAL\"}",
                "36000",
            ),
            ("cln_channel_balance_sat{state=\"ONCHAIN\"}", "5000"),
            (
                "cln_channel_capacity_sat{state=\"CHANNELD_NORMAL\"}",
                "110000",
            ),
        ];
        for (series, value) in expected {
            assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
        }
        assert!(text.contains(
            "cln_info{id=\"nodeid020202020202020202020202020202020202020202020202020202020202\",\
             alias=\"SILENT\\\"ARTIST\",version=\"v26.06.6\",network=\"regtest\"} 1\n"
        ));
        assert_eq!(
            text.matches("cln_channels{").count(),
            CHANNEL_STATES.len() + 1
        );
    }

    #[test]
    fn synced_when_getinfo_carries_no_warning() {
        let synced = GETINFO.replace(
            r#""warning_bitcoind_sync": "Bitcoind is not up-to-date with network.""#,
            r#""address": []"#,
        );
        let text = exposition(Some(&snapshot(&synced)));
        assert_eq!(sample(&text, "cln_synced_to_chain"), Some("1"));
        let loading = GETINFO.replace("warning_bitcoind_sync", "warning_lightningd_sync");
        let text = exposition(Some(&snapshot(&loading)));
        assert_eq!(sample(&text, "cln_synced_to_chain"), Some("0"));
    }

    #[test]
    fn a_failed_refresh_is_only_cln_up_zero() {
        let text = exposition(None);
        assert_eq!(
            text,
            "# HELP cln_up 1 if the last refresh of every CLNRest call succeeded, else 0.\n\
             # TYPE cln_up gauge\ncln_up 0\n"
        );
    }

    #[test]
    fn an_answer_without_a_documented_key_names_the_method() {
        let err = Snapshot::decode(&[
            br#"{"id": "x"}"#.to_vec(),
            LISTFUNDS.as_bytes().to_vec(),
            LISTPEERCHANNELS.as_bytes().to_vec(),
            LISTPEERS.as_bytes().to_vec(),
        ])
        .unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("CLN's getinfo answer"), "{message}");
        assert!(message.contains("missing field"), "{message}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\\b\"c\nd"), r#"a\\b\"c\nd"#);
    }
}
