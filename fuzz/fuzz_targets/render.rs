//! A valid profile, mutated: one of the example profiles with a few of its values replaced,
//! removed or added, as the fuzzer's bytes choose. Whatever `validate` accepts must render
//! (openlsp::fuzzing::render_profile panics otherwise), and nothing may panic on the way.
//! Secrets are generated once per site name under $OPENLSP_FUZZ_STATE (default
//! $TMPDIR/openlsp-fuzz-state), so after the first runs each input only renders.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_yaml::{Mapping, Value};

const BASES: [&str; 4] = [
    include_str!("../../profiles/pi4-mainnet.yaml"),
    include_str!("../../profiles/full-stack.yaml"),
    include_str!("../../profiles/lsp-two-nodes.yaml"),
    include_str!("../../profiles/regtest-playground.yaml"),
];

/// Values worth trying anywhere: the names, modes, sizes and hosts profiles use, and edges.
const SCALARS: &[&str] = &[
    "bitcoind", "lnd", "lnd2", "blockchain", "lightning", "pi4", "node-2", "home", "openlsp",
    "mainnet", "testnet", "testnet4", "signet", "regtest", "hybrid", "tor-only", "off", "none",
    "hostPort", "loadBalancer", "rest", "grpc", "staging", "production", "arm64", "amd64",
    "0", "1", "4", "5", "550", "1024", "65536", "65537", "-1", "0.5", "500m", "1m", "1Mi",
    "32Mi", "2Gi", "8Gi", "20Gi", "1Ti", "64Ti", "1Pi", "/srv/blockchain", "/srv/lightning",
    "/srv/x", "/", "lnd.example.com", "grafana.example.com", "a.b", "me@example.com",
    "81.2.69.160", "2a02:c207::1", "10.0.0.0/8", "#3399ff", "kube-prom-stack", "observability",
    "public", "lightninglabs/lnd:v0.19.3-beta", "x:y", "true", "false", "null", "~", "",
];

/// Keys the profile knows, so that additions reach the optional sections.
const KEYS: &[&str] = &[
    "name", "disk", "bitcoin", "txindex", "prune", "dbcache", "maxmempool", "image", "alias",
    "color", "onion", "ingress", "rest", "grpc", "rpc", "resources", "memory", "cpu", "mode",
    "ipv6", "inbound", "externalIPs", "monitoring", "enabled", "lndmon", "release",
    "namespace", "email", "acme", "grafana", "className", "tor", "networking", "nodeName",
    "reservedMemory", "allowBitcoinAndLightning", "allowRootFilesystem", "tlsExtraDomains",
    "tlsExtraIps", "rpcAllowIp", "size", "path", "controllerNamespace",
];

fn state_root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        std::env::var_os("OPENLSP_FUZZ_STATE")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("openlsp-fuzz-state"))
    })
}

fn scalar(u: &mut Unstructured) -> Result<Value> {
    Ok(match u.int_in_range(0..=9)? {
        0 => Value::Bool(u.arbitrary()?),
        1 => Value::Number(u.int_in_range(0u64..=70_000)?.into()),
        2 => Value::Number(u.arbitrary::<u64>()?.into()),
        3 => Value::String(u.arbitrary::<String>()?),
        4 => Value::Mapping(Mapping::new()),
        5 => Value::Sequence(vec![Value::String((*u.choose(SCALARS)?).to_owned())]),
        _ => Value::String((*u.choose(SCALARS)?).to_owned()),
    })
}

/// Every node of the tree, by its path of map keys and list indices.
fn paths(value: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(prefix.clone());
    match value {
        Value::Mapping(map) => {
            for (key, child) in map {
                prefix.push(key.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Sequence(list) => {
            for (i, child) in list.iter().enumerate() {
                prefix.push(Value::Number(i.into()));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn node<'a>(mut value: &'a mut Value, path: &[Value]) -> &'a mut Value {
    for step in path {
        value = match (value, step) {
            (Value::Sequence(list), Value::Number(i)) => &mut list[i.as_u64().unwrap() as usize],
            (value, key) => value.get_mut(key).unwrap(),
        };
    }
    value
}

fn mutate(profile: &mut Value, u: &mut Unstructured) -> Result<()> {
    let mut all = Vec::new();
    paths(profile, &mut Vec::new(), &mut all);
    let path = u.choose(&all)?.clone();
    let target = node(profile, &path);
    match u.int_in_range(0..=4)? {
        // Replace the value.
        0 | 1 => *target = scalar(u)?,
        // Add a key (to a map) or an element (to a list, a copy of one of its own).
        2 => match target {
            Value::Mapping(map) => {
                map.insert(Value::String((*u.choose(KEYS)?).to_owned()), scalar(u)?);
            }
            Value::Sequence(list) if !list.is_empty() => {
                let copy = u.choose(list)?.clone();
                list.push(copy);
            }
            other => *other = scalar(u)?,
        },
        // Remove a key or an element.
        3 => match target {
            Value::Mapping(map) if !map.is_empty() => {
                let keys: Vec<Value> = map.keys().cloned().collect();
                map.remove(u.choose(&keys)?);
            }
            Value::Sequence(list) if !list.is_empty() => {
                let index = u.choose_index(list.len())?;
                list.remove(index);
            }
            _ => {}
        },
        // Give a map a whole optional section.
        _ => {
            if let Value::Mapping(map) = target {
                let section = match u.int_in_range(0..=3)? {
                    0 => "monitoring: {}",
                    1 => "ingress: { email: me@example.com, grafana: grafana.example.com }",
                    2 => "tor: { mode: tor-only }",
                    _ => "networking: { ipv6: true, inbound: loadBalancer, externalIPs: [81.2.69.160] }",
                };
                let section: Mapping = serde_yaml::from_str(section).unwrap();
                map.extend(section);
            }
        }
    }
    Ok(())
}

fn mutated(data: &[u8]) -> Result<String> {
    let mut u = Unstructured::new(data);
    let mut profile: Value = serde_yaml::from_str(u.choose(&BASES)?).unwrap();
    for _ in 0..u.int_in_range(0..=6)? {
        mutate(&mut profile, &mut u)?;
    }
    Ok(serde_yaml::to_string(&profile).unwrap())
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = mutated(data) {
        let _ = openlsp::fuzzing::render_profile(&text, state_root());
    }
});
