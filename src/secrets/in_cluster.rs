//! A site's credentials when the cluster is the only place they live (the controller has no
//! state dir): every value the site's Secrets hold is taken as it is, through the catalog and
//! the rules `secrets pull` uses, and only what no Secret holds is generated, in memory, for the
//! plan to write. Then the state-vs-cluster check runs on the result, as for `apply`: a value
//! the cluster has is never replaced (a missing RPC password whose rpcauth line is still there,
//! a certificate without its key), and such a site changes nothing until a person looks.

use std::collections::BTreeMap;

use super::catalog::{self, Source};
use super::credential_check::{self, Finding, LiveSecret};
use super::generate::{GenerateError, generate};
use super::requirements::{Requirement, requirements};
use super::rpcauth;
use super::snapshot::Secrets;
use super::value_check::{check_pair, check_value};
use crate::profile::Site;

/// The snapshot to render with, and the state paths that were generated for it.
#[derive(Debug)]
pub struct InCluster {
    pub secrets: Secrets,
    pub generated: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum InClusterError {
    #[error("Secret {secret}: {path} is damaged: {reason}; nothing was changed")]
    Damaged {
        secret: String,
        path: String,
        reason: String,
    },
    #[error(
        "Secret {secret} has {present} but not {missing}; nothing was changed\n  hint: restore the Secret from a backup (openlsp secrets export), or delete it to have both made anew"
    )]
    HalfPair {
        secret: String,
        present: String,
        missing: String,
    },
    /// A backup target's rclone config: the operator gives it; the controller cannot make it.
    #[error(
        "Secret {secret} (an rclone config the profile's backup targets use) is not in namespace {namespace}; nothing was changed\n  hint: give it with kubectl create secret generic {secret} -n {namespace} --from-file={key}=<your rclone.conf>"
    )]
    NotProvided {
        secret: String,
        namespace: String,
        key: &'static str,
    },
    #[error("{}", describe(.0))]
    Inconsistent(Vec<Finding>),
    #[error("cannot generate a secret: {0}")]
    Generate(GenerateError),
}

fn describe(findings: &[Finding]) -> String {
    let mut text = String::from(
        "the site's Secrets do not hold what their other Secrets were made with; nothing was generated or changed",
    );
    for finding in findings {
        text.push_str(&format!("\n  {finding}"));
    }
    text.push_str("\n  hint: restore the missing Secret from a backup; openlsp never replaces a credential the cluster has");
    text
}

/// The credentials of `site` from its namespace's Secrets (`live`), generating what none holds.
pub fn resolve(
    site: &Site,
    live: &BTreeMap<String, LiveSecret>,
) -> Result<InCluster, InClusterError> {
    let entries = catalog::catalog(site);
    let mut generations = BTreeMap::new();
    // Which Secret each state path comes from, for messages.
    let mut secret_of: BTreeMap<&str, &str> = BTreeMap::new();
    let mut found: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in entries.iter().filter(|e| !e.values.is_empty()) {
        if let Some(secret) = live.get(&entry.secret) {
            generations.insert(entry.secret.clone(), secret.generation);
        }
        for (path, source) in &entry.values {
            secret_of.insert(path, source.secret());
            let data = live.get(source.secret()).map(|s| &s.data);
            let value = match source {
                Source::Key { key, .. } => data.and_then(|d| d.get(*key)).cloned(),
                Source::RpcauthSalt { user, password, .. } => {
                    let password = found.iter().find(|(p, _)| p == password).map(|(_, v)| v);
                    let conf = data.and_then(|d| d.get("rpcauth.conf"));
                    match (password, conf) {
                        (Some(password), Some(conf)) => rpcauth::matching_salt(
                            &String::from_utf8_lossy(conf),
                            user,
                            &String::from_utf8_lossy(password),
                        )
                        .map(String::into_bytes),
                        _ => None,
                    }
                }
            };
            if let Some(value) = value {
                found.push((path.clone(), value));
            }
        }
    }
    let mut secrets = Secrets::with_generations(generations);
    for (path, value) in found {
        secrets.insert(path, value);
    }
    let mut generated = Vec::new();
    let secret_name = |path: &str| secret_of.get(path).copied().unwrap_or_default().to_owned();
    for requirement in requirements(site) {
        let files = requirement.files();
        let (present, missing): (Vec<&str>, Vec<&str>) =
            files.iter().partition(|file| secrets.get(file).is_some());
        match (present.first(), missing.first()) {
            (_, None) => {
                for file in &files {
                    let value = secrets.get(file).unwrap_or_default();
                    check_value(&requirement, file, value).map_err(|reason| {
                        InClusterError::Damaged {
                            secret: secret_name(file),
                            path: (*file).to_owned(),
                            reason,
                        }
                    })?;
                }
                check_pair(&requirement, &secrets).map_err(|(path, reason)| {
                    InClusterError::Damaged {
                        secret: secret_name(&path),
                        path,
                        reason,
                    }
                })?;
            }
            (Some(present), Some(missing)) => {
                return Err(InClusterError::HalfPair {
                    secret: secret_name(present),
                    present: (*present).to_owned(),
                    missing: (*missing).to_owned(),
                });
            }
            (None, Some(_)) => {
                if let Requirement::Provided { secret, .. } = &requirement {
                    return Err(InClusterError::NotProvided {
                        secret: secret.clone(),
                        namespace: site.namespace().to_owned(),
                        key: super::provided::RCLONE_CONFIG_KEY,
                    });
                }
                for (path, value) in
                    generate(&requirement, &secrets).map_err(InClusterError::Generate)?
                {
                    generated.push(path.clone());
                    secrets.insert(path, value);
                }
            }
        }
    }
    let findings = credential_check::check(&entries, &secrets, live);
    if !findings.is_empty() {
        return Err(InClusterError::Inconsistent(findings));
    }
    Ok(InCluster { secrets, generated })
}

/// The site's onion addresses (service name, address) from the public keys its onion
/// Secrets hold in the cluster; a service whose Secret is not there yet is left out.
pub fn onion_addresses(site: &Site, live: &BTreeMap<String, LiveSecret>) -> Vec<(String, String)> {
    crate::secrets::requirements::onion_services(site)
        .into_iter()
        .filter_map(|service| {
            let secret = live.get(&crate::plan::names::onion_secret(&service))?;
            let address =
                super::onion::address_of_public_file(secret.data.get("hs_ed25519_public_key")?)?;
            Some((service, address))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::names;
    use crate::profile::parse;
    use crate::secrets::fixtures::live;
    use crate::secrets::requirements::paths;

    fn site() -> Site {
        example("regtest-playground")
    }

    fn example(name: &str) -> Site {
        let path = format!("{}/profiles/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap();
        parse(std::path::Path::new("p.yaml"), &text).unwrap().site
    }

    /// The Secrets the site's plan writes, from a snapshot, as the cluster would hold them.
    fn cluster_of(site: &Site, secrets: &Secrets) -> BTreeMap<String, LiveSecret> {
        let plan =
            crate::plan::render_site(site, secrets, &crate::plan::TemplateSet::builtin()).unwrap();
        plan.objects
            .iter()
            .filter(|o| o.kind == "Secret")
            .map(|o| {
                let data = o.manifest["data"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(key, value)| {
                        use base64::Engine as _;
                        let bytes = base64::engine::general_purpose::STANDARD
                            .decode(value.as_str().unwrap())
                            .unwrap();
                        (key.clone(), bytes)
                    })
                    .collect();
                (
                    o.name.clone(),
                    LiveSecret {
                        data,
                        generation: 0,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn a_new_site_gets_every_value_generated_and_a_second_look_keeps_them_byte_for_byte() {
        let site = site();
        let first = resolve(&site, &BTreeMap::new()).unwrap();
        let needed = requirements(&site);
        let files: Vec<&str> = needed.iter().flat_map(|r| r.files()).collect();
        assert_eq!(first.generated, files);
        let cluster = cluster_of(&site, &first.secrets);
        let again = resolve(&site, &cluster).unwrap();
        assert!(again.generated.is_empty(), "{:?}", again.generated);
        for file in files {
            assert_eq!(again.secrets.get(file), first.secrets.get(file), "{file}");
        }
    }

    #[test]
    fn a_lost_password_whose_rpcauth_line_remains_is_refused_not_replaced() {
        let site = site();
        let first = resolve(&site, &BTreeMap::new()).unwrap();
        let mut cluster = cluster_of(&site, &first.secrets);
        let lnd = &site.spec.lightning[0];
        cluster.remove(&names::rpc_credentials_secret(&lnd.name, &lnd.bitcoin));
        let err = resolve(&site, &cluster).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("the site's Secrets do not hold"), "{text}");
        assert!(
            text.contains(&names::rpc_credentials_secret(&lnd.name, &lnd.bitcoin)),
            "{text}"
        );
    }

    #[test]
    fn onion_addresses_come_from_the_public_keys_in_the_cluster() {
        let site = example("pi4-mainnet");
        let first = resolve(&site, &BTreeMap::new()).unwrap();
        let cluster = cluster_of(&site, &first.secrets);
        let addresses = onion_addresses(&site, &cluster);
        let services = crate::secrets::requirements::onion_services(&site);
        assert!(!services.is_empty());
        assert_eq!(addresses.len(), services.len());
        for (service, address) in addresses {
            let key = crate::secrets::OnionKey::from_secret_file(
                first.secrets.get(&paths::onion_key(&service)).unwrap(),
            )
            .unwrap();
            assert_eq!(address, key.address(), "{service}");
        }
    }

    /// The controller cannot make an rclone config: a missing one is named with the kubectl
    /// command that gives it, and one that is there is used as it is.
    #[test]
    fn an_rclone_config_comes_from_its_secret_and_is_never_generated() {
        let path = format!("{}/profiles/full-stack.yaml", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap().replace(
            "        path: /mnt/usb/openlsp-backup\n",
            "        path: /mnt/usb/openlsp-backup\n      - name: nas\n        rclone: { remote: \"nas:openlsp\", config: backup-rclone }\n",
        );
        let site = parse(std::path::Path::new("p.yaml"), &text).unwrap().site;
        let err = resolve(&site, &BTreeMap::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Secret backup-rclone (an rclone config the profile's backup targets use) is not in namespace full-stack; nothing was changed\n  hint: give it with kubectl create secret generic backup-rclone -n full-stack --from-file=rclone.conf=<your rclone.conf>"
        );
        let config = b"[nas]\ntype = webdav\n";
        let given = BTreeMap::from([(
            "backup-rclone".to_owned(),
            live(&[(crate::secrets::provided::RCLONE_CONFIG_KEY, config)], 1),
        )]);
        let resolved = resolve(&site, &given).unwrap();
        let path = crate::secrets::provided::path("backup-rclone");
        assert_eq!(resolved.secrets.get(&path), Some(&config[..]));
        assert!(!resolved.generated.contains(&path));
    }

    #[test]
    fn half_a_certificate_is_damage_not_a_gap_to_fill() {
        let site = site();
        let first = resolve(&site, &BTreeMap::new()).unwrap();
        let mut cluster = cluster_of(&site, &first.secrets);
        let lnd = &site.spec.lightning[0].name;
        cluster
            .get_mut(&names::tls_secret(lnd))
            .unwrap()
            .data
            .remove("tls.key");
        let err = resolve(&site, &cluster).unwrap_err();
        assert!(
            matches!(&err, InClusterError::HalfPair { present, .. } if *present == paths::tls_cert(lnd)),
            "{err}"
        );
        let mut damaged = cluster_of(&site, &first.secrets);
        damaged.insert(
            names::wallet_secret(lnd),
            live(&[(names::WALLET_PASSWORD_KEY, b"hunter2")], 0),
        );
        let err = resolve(&site, &damaged).unwrap_err().to_string();
        assert!(err.contains("is damaged"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
