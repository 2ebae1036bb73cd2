//! The operator's kubeconfig as `openlsp apply` will use it: which file, whether it is
//! private, and whether its current context names a cluster and a user. Only names and the
//! server's address are kept; credentials are never read into a message.

use kube::config::Kubeconfig as KubeconfigFile;

/// Where the current context points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub context: String,
    pub server: String,
}

/// Why a kubeconfig cannot reach a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// The file exists but cannot be read (often: created by root with sudo).
    Unreadable(String),
    /// Not YAML, or not a kubeconfig; the parser's message.
    Invalid(String),
    /// No `current-context`; the contexts it does have.
    NoCurrentContext { contexts: Vec<String> },
    /// The current context, cluster or user is named but missing, or the cluster has no server.
    Broken(String),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::Unreadable(why) => write!(f, "cannot be read: {why}"),
            Unusable::Invalid(why) => write!(f, "is not a kubeconfig ({why})"),
            Unusable::NoCurrentContext { contexts } if contexts.is_empty() => {
                write!(f, "has no current-context and no contexts")
            }
            Unusable::NoCurrentContext { contexts } => write!(
                f,
                "has no current-context (contexts: {})",
                contexts.join(", ")
            ),
            Unusable::Broken(why) => f.write_str(why),
        }
    }
}

/// The parser's message without what it quotes from the file (a value may be a credential),
/// first line only.
fn without_quotes(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    line.split('"')
        .enumerate()
        .map(|(i, part)| if i % 2 == 1 { "…" } else { part })
        .collect::<Vec<_>>()
        .join("\"")
}

/// Where the kubeconfig's current context points, or why it points nowhere.
pub fn target(text: &str) -> Result<Target, Unusable> {
    let config = KubeconfigFile::from_yaml(text)
        .map_err(|err| Unusable::Invalid(without_quotes(&err.to_string())))?;
    let context = match config.current_context.as_deref() {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => {
            return Err(Unusable::NoCurrentContext {
                contexts: config.contexts.iter().map(|c| c.name.clone()).collect(),
            });
        }
    };
    let broken = |why: String| Err(Unusable::Broken(why));
    let Some(named) = config.contexts.iter().find(|c| c.name == context) else {
        return broken(format!(
            "names current-context {context:?}, but has no context of that name"
        ));
    };
    let Some(details) = &named.context else {
        return broken(format!("context {context:?} is empty"));
    };
    let cluster = &details.cluster;
    let Some(server) = config
        .clusters
        .iter()
        .find(|c| &c.name == cluster)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .filter(|s| !s.is_empty())
    else {
        return broken(format!(
            "context {context:?} names cluster {cluster:?}, which is missing or has no server"
        ));
    };
    // Without credentials the API server takes the caller as anonymous, and anonymous
    // callers may still read /readyz: a user is what makes the probe prove access.
    let Some(user) = details.user.as_ref().filter(|u| !u.is_empty()) else {
        return broken(format!(
            "context {context:?} names no user, so the API server would not know who asks"
        ));
    };
    if !config.auth_infos.iter().any(|u| &u.name == user) {
        return broken(format!(
            "context {context:?} names user {user:?}, which is missing"
        ));
    }
    Ok(Target { context, server })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MICROK8S: &str = "\
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: c3RhbmQtaW4=
    server: https://192.168.1.10:16443
  name: microk8s-cluster
contexts:
- context:
    cluster: microk8s-cluster
    user: admin
  name: microk8s
current-context: microk8s
kind: Config
preferences: {}
users:
- name: admin
  user:
    token: not-a-real-token
";

    #[test]
    fn the_current_context_names_its_server() {
        assert_eq!(
            target(MICROK8S),
            Ok(Target {
                context: "microk8s".to_owned(),
                server: "https://192.168.1.10:16443".to_owned(),
            })
        );
    }

    #[test]
    fn an_empty_or_broken_kubeconfig_says_what_is_missing() {
        let empty = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n";
        let err = target(empty).unwrap_err();
        assert_eq!(err.to_string(), "has no current-context and no contexts");
        let unset = MICROK8S.replace("current-context: microk8s\n", "");
        assert_eq!(
            target(&unset).unwrap_err().to_string(),
            "has no current-context (contexts: microk8s)"
        );
        let elsewhere = MICROK8S.replace("current-context: microk8s", "current-context: prod");
        assert!(
            target(&elsewhere)
                .unwrap_err()
                .to_string()
                .contains("\"prod\"")
        );
        let no_user = MICROK8S.replace("- name: admin", "- name: someone");
        assert!(
            target(&no_user)
                .unwrap_err()
                .to_string()
                .contains("user \"admin\", which is missing")
        );
        let anonymous = MICROK8S.replace("    user: admin\n", "");
        assert!(
            target(&anonymous)
                .unwrap_err()
                .to_string()
                .contains("names no user")
        );
        let no_server = MICROK8S.replace("    server: https://192.168.1.10:16443\n", "");
        assert!(matches!(target(&no_server), Err(Unusable::Broken(_))));
        assert!(matches!(target("- just a list"), Err(Unusable::Invalid(_))));
    }

    #[test]
    fn credentials_never_reach_a_message() {
        let broken = MICROK8S.replace("current-context: microk8s", "current-context: prod");
        let garbled = MICROK8S.replace("users:", "users: [");
        let misplaced = MICROK8S.replace("users:", "users: not-a-real-token\nx:");
        for text in [broken, garbled, misplaced] {
            let message = target(&text).unwrap_err().to_string();
            assert!(!message.contains("not-a-real-token"), "{message}");
        }
    }
}
