//! BTCPay Server, NBXplorer and PostgreSQL as openlsp renders them, checked by the real programs
//! that exist here: Debian's PostgreSQL runs the rendered database setup, and each role's
//! password logs in to its own database only; the real bitcoind takes NBXplorer's rpcauth user
//! and gives its listener `noban`; the real Tor serves the store's onion address. No BTCPay or
//! NBXplorer binary exists offline: every key of their settings files is one their
//! Configuration/DefaultConfiguration.cs (btcpayserver v2.4.0, NBXplorer v2.6.x) reads.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::bitcoind::Knots;
use crate::common::{self, Daemon, Test, find, free_port, render, secret_value};

/// BTCPay's settings keys openlsp writes; each is an option of BTCPay's DefaultConfiguration
/// (or StandardConfiguration's `bind`/`port`), with dots as BTCPay's GetOrDefault allows.
const BTCPAY_KEYS: &[&str] = &[
    "network",
    "chains",
    "bind",
    "port",
    "plugindir",
    "postgres",
    "socksendpoint",
    "btc.explorer.url",
    "btc.explorer.cookiefile",
    "btc.lightning",
];
/// NBXplorer's settings keys openlsp writes, each read by NBXplorer's configuration
/// (ExplorerConfiguration.cs, RPCArgs.cs: `btc.rpc.*`, `btc.node.endpoint`).
const NBXPLORER_KEYS: &[&str] = &[
    "network",
    "chains",
    "bind",
    "port",
    "postgres",
    "btc.rpc.url",
    "btc.rpc.user",
    "btc.rpc.password",
    "btc.node.endpoint",
    "trimevents",
];

/// The `key=value` pairs of `text` split at `separator`: a settings file's lines (comments
/// aside) or an Npgsql connection string's parts.
fn pairs(text: &str, separator: char) -> Vec<(String, String)> {
    text.split(separator)
        .filter(|part| !part.trim().is_empty() && !part.starts_with('#'))
        .map(|part| {
            let (key, value) = part.split_once('=').expect("key=value");
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

fn value_of(text: &str, separator: char, key: &str) -> String {
    pairs(text, separator)
        .into_iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no {key}"))
        .1
}

fn setting(text: &str, key: &str) -> String {
    value_of(text, '\n', key)
}

fn npgsql_value(connection: &str, key: &str) -> String {
    value_of(connection, ';', key)
}

fn shop() -> (Test, Vec<Value>) {
    let test = Test::new().with_example("shop");
    let (docs, _) = render(&test, "shop.yaml");
    (test, docs)
}

#[test]
fn every_settings_key_is_an_option_and_the_wiring_is_generated() {
    let (_test, docs) = shop();
    let store = secret_value(&docs, "btcpay-settings", "settings.config");
    let explorer = secret_value(&docs, "btcpay-nbxplorer-bitcoind-rpc", "settings.config");
    for (text, known) in [(&store, BTCPAY_KEYS), (&explorer, NBXPLORER_KEYS)] {
        for (key, _) in pairs(text, '\n') {
            assert!(known.contains(&key.as_str()), "{key} is not a known option");
        }
    }
    // One role per database, on the PostgreSQL Service; the role owns the database it logs in to.
    for (text, role) in [
        (&store, "btcpayservermainnet"),
        (&explorer, "nbxplorermainnet"),
    ] {
        let connection = setting(text, "postgres");
        assert_eq!(npgsql_value(&connection, "User ID"), role);
        assert_eq!(npgsql_value(&connection, "Database"), role);
        assert_eq!(
            npgsql_value(&connection, "Host"),
            "btcpay-postgres.shop.svc"
        );
        assert_eq!(npgsql_value(&connection, "Port"), "5432");
    }
    let rpc_password = secret_value(&docs, "btcpay-nbxplorer-bitcoind-rpc", "password");
    // NBXplorer is bitcoind's own RPC user, and reaches the listener made for it. BTCPay reads
    // NBXplorer's cookie from the pod's shared emptyDir, and LND's invoice macaroon and
    // certificate from files its Secrets fill at run time: no macaroon is rendered.
    for (text, key, expected) in [
        (&explorer, "btc.rpc.user", "btcpay_nbxplorer"),
        (&explorer, "btc.rpc.password", rpc_password.as_str()),
        (&explorer, "btc.node.endpoint", "bitcoind.shop.svc:8339"),
        (&store, "btc.explorer.url", "http://127.0.0.1:32838/"),
        (&store, "btc.explorer.cookiefile", "/nbxplorer/Main/.cookie"),
        (
            &store,
            "btc.lightning",
            "type=lnd-rest;server=https://lnd.shop.svc:8080/;macaroonfilepath=/etc/btcpay/lightning/invoice.macaroon;certfilepath=/etc/btcpay/lightning/tls.cert",
        ),
    ] {
        assert_eq!(setting(text, key), expected, "{key}");
    }
    let pod = &find(&docs, "StatefulSet", "btcpay")["spec"]["template"]["spec"];
    let lightning = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "lightning")
        .unwrap();
    let sources = lightning["projected"]["sources"].as_array().unwrap();
    assert_eq!(sources[0]["secret"]["name"], "lnd-rpc");
    assert_eq!(sources[0]["secret"]["items"][0]["key"], "invoice.macaroon");
    assert_eq!(sources[1]["secret"]["name"], "lnd-tls");
    assert_eq!(
        sources[1]["secret"]["items"].as_array().unwrap().len(),
        1,
        "only the certificate, never LND's key"
    );
    // The settings files come as files, with the cookie's volume read-only for BTCPay.
    let args = |name: &str| -> Vec<String> {
        let container = pod["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap();
        container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    };
    assert!(args("btcpayserver").contains(&"--conf=/etc/btcpay/settings.config".to_owned()));
    assert!(args("nbxplorer").contains(&"--conf=/etc/nbxplorer/settings.config".to_owned()));
}

/// Scans a `render --show-secrets` for the site's secret values outside Secrets: no password
/// reaches a ConfigMap, a label, an annotation or a pod spec.
#[test]
fn no_credential_is_rendered_outside_a_secret() {
    let (test, docs) = shop();
    let needles = common::secret_needles(&test.state_dir("shop"));
    for doc in docs.iter().filter(|d| d["kind"] != "Secret") {
        let text = doc.to_string();
        for needle in &needles {
            assert!(
                !text.contains(needle.as_str()),
                "{} {} holds a secret value",
                doc["kind"],
                doc["metadata"]["name"]
            );
        }
    }
}

/// A Debian PostgreSQL server, run as the `postgres` user as BTCPay's pod runs the image's: the
/// rendered initdb arguments (scram-sha-256 over TCP, peer on its socket), on loopback.
struct Postgres {
    _daemon: Daemon,
    /// The `postgres` user it runs as.
    owner: nix::unistd::User,
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Postgres {
    /// None (after a skip) without PostgreSQL's programs or root to run them as `postgres`.
    fn start(root: &Path, initdb_args: &str, superuser_password: &str) -> Option<Self> {
        let bin = common::required_program(
            "OPENLSP_TEST_POSTGRES_BIN",
            "PostgreSQL runs the rendered database setup",
        )?;
        if !nix::unistd::Uid::effective().is_root() {
            common::skip::skip("PostgreSQL runs as its own user: run the tests as root");
            return None;
        }
        let owner = nix::unistd::User::from_name("postgres")
            .unwrap()
            .expect("Debian's postgresql package makes the postgres user");
        let dir = root.join("postgres");
        fs::create_dir_all(dir.join("run")).unwrap();
        let pwfile = dir.join("superuser-password");
        fs::write(&pwfile, superuser_password).unwrap();
        for path in [root, &dir, &dir.join("run"), &pwfile] {
            nix::unistd::chown(path, Some(owner.uid), Some(owner.gid)).unwrap();
        }
        let as_postgres = |program: &str| {
            let mut command = Command::new("runuser");
            command
                .args(["-u", "postgres", "--"])
                .arg(bin.join(program));
            command
        };
        let status = as_postgres("initdb")
            .arg("-D")
            .arg(dir.join("data"))
            .args(["--username=postgres", "--pwfile"])
            .arg(&pwfile)
            .args(initdb_args.split_whitespace())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb failed");
        let port = free_port();
        let daemon = Daemon(
            as_postgres("postgres")
                .arg("-D")
                .arg(dir.join("data"))
                .args(["-c", "listen_addresses=127.0.0.1", "-c"])
                .arg(format!("port={port}"))
                .arg("-c")
                .arg(format!(
                    "unix_socket_directories={}",
                    dir.join("run").display()
                ))
                .stdout(Stdio::null())
                .stderr(fs::File::create(root.join("postgres.log")).unwrap())
                .spawn()
                .unwrap(),
        );
        let server = Postgres {
            _daemon: daemon,
            owner,
            bin,
            dir,
            port,
        };
        common::wait_for(
            "PostgreSQL to accept connections",
            Duration::from_secs(60),
            || {
                let ready = Command::new(server.bin.join("pg_isready"))
                    .args(["-h", "127.0.0.1", "-p", &port.to_string()])
                    .output()
                    .unwrap();
                if ready.status.success() {
                    Ok(())
                } else {
                    Err(fs::read_to_string(root.join("postgres.log")).unwrap_or_default())
                }
            },
        );
        Some(server)
    }

    /// Gives `path` to the `postgres` user, who reads it in the server's place.
    fn own(&self, path: &Path) {
        nix::unistd::chown(path, Some(self.owner.uid), Some(self.owner.gid)).unwrap();
    }

    /// `program` as the `postgres` user, with PostgreSQL's programs first on PATH and its
    /// socket as PGHOST.
    fn as_postgres(&self, program: &str) -> Command {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--", "env"])
            .arg(format!("PATH={path}"))
            .arg(format!("PGHOST={}", self.socket().display()))
            .arg(format!("PGPORT={}", self.port))
            .arg(program);
        command
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("run")
    }

    /// What the image's entrypoint does at the first start: the rendered init script, once, as
    /// postgres over its socket, with the passwords Secret mounted where the pod mounts it.
    fn init_databases(&self, docs: &[Value]) {
        let passwords = self.dir.join("passwords");
        fs::create_dir_all(&passwords).unwrap();
        self.own(&passwords);
        for key in ["postgres", "btcpayserver", "nbxplorer"] {
            let file = passwords.join(key);
            fs::write(&file, secret_value(docs, "btcpay-postgres", key)).unwrap();
            self.own(&file);
        }
        let script = common::config(docs, "btcpay-postgres-init", "init-databases.sh");
        fs::write(self.dir.join("init-databases.sh"), &script).unwrap();
        self.own(&self.dir.join("init-databases.sh"));
        let init = self
            .as_postgres("env")
            .arg(format!(
                "OPENLSP_DATABASE_PASSWORDS={}",
                passwords.display()
            ))
            .arg("sh")
            .arg(self.dir.join("init-databases.sh"))
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "the init script failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
    }

    /// `sql` over TCP as `user` with `password`, to `database`: psql's output, or its error.
    fn query(
        &self,
        user: &str,
        password: &str,
        database: &str,
        sql: &str,
    ) -> Result<String, String> {
        let output = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", user, "-d", database, "-X", "-A", "-t", "-c", sql])
            .env("PGPASSWORD", password)
            .env("PGSSLMODE", "disable")
            .output()
            .unwrap();
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }
}

#[test]
fn each_role_logs_in_to_its_own_database_only_with_scram() {
    let (test, docs) = shop();
    let statefulset = find(&docs, "StatefulSet", "btcpay-postgres");
    let container = &statefulset["spec"]["template"]["spec"]["containers"][0];
    let env = |name: &str| -> String {
        container["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))["value"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(env("POSTGRES_HOST_AUTH_METHOD"), "scram-sha-256");
    let superuser = secret_value(&docs, "btcpay-postgres", "postgres");
    let root = test.path().join("pg");
    fs::create_dir_all(&root).unwrap();
    let Some(server) = Postgres::start(&root, &env("POSTGRES_INITDB_ARGS"), &superuser) else {
        return;
    };
    server.init_databases(&docs);
    assert_eq!(env("OPENLSP_DATABASE_PASSWORDS"), "/etc/btcpay-postgres");

    let store = secret_value(&docs, "btcpay-settings", "settings.config");
    let explorer = secret_value(&docs, "btcpay-nbxplorer-bitcoind-rpc", "settings.config");
    let roles: Vec<(String, String, String)> = [&store, &explorer]
        .iter()
        .map(|text| {
            let connection = setting(text, "postgres");
            (
                npgsql_value(&connection, "User ID"),
                npgsql_value(&connection, "Password"),
                npgsql_value(&connection, "Database"),
            )
        })
        .collect();
    for (i, (user, password, database)) in roles.iter().enumerate() {
        assert_eq!(
            server
                .query(
                    user,
                    password,
                    database,
                    "select current_user || ' ' || current_database()"
                )
                .unwrap(),
            format!("{user} {database}")
        );
        // The owner can make BTCPay's and NBXplorer's tables.
        server
            .query(
                user,
                password,
                database,
                "create table openlsp_check (id int); drop table openlsp_check",
            )
            .unwrap();
        let wrong = server
            .query(user, "not-the-password", database, "select 1")
            .unwrap_err();
        assert!(wrong.contains("password authentication failed"), "{wrong}");
        let (_, _, other) = &roles[1 - i];
        let denied = server.query(user, password, other, "select 1").unwrap_err();
        assert!(
            denied.contains("permission denied for database"),
            "{denied}"
        );
    }
    // Stored as SCRAM verifiers, never in the clear or as md5.
    let verifiers = server
        .query(
            "postgres",
            &superuser,
            "postgres",
            "select string_agg(left(rolpassword, 14), ',' order by rolname) from pg_authid where rolcanlogin",
        )
        .unwrap();
    assert_eq!(
        verifiers, "SCRAM-SHA-256$,SCRAM-SHA-256$,SCRAM-SHA-256$",
        "every login role"
    );
}

#[test]
fn nbxplorer_logs_in_to_the_real_bitcoind_and_its_listener_is_never_banned() {
    let (test, docs) = shop();
    let user = secret_value(&docs, "btcpay-nbxplorer-bitcoind-rpc", "username");
    let password = secret_value(&docs, "btcpay-nbxplorer-bitcoind-rpc", "password");
    let Some((knots, info)) = Knots::start(&test.path().join("bitcoind"), &docs, &user, &password)
    else {
        return;
    };
    assert_eq!(info["result"]["chain"], "main");
    assert_eq!(knots.status(&user, "wrong-password"), 401);
    // A peer on NBXplorer's listener gets `noban`, as NBXplorer checks (a second bitcoind stands
    // in for NBXplorer's P2P connection: both speak the same protocol).
    let Some(bitcoind) = common::required_program("OPENLSP_TEST_BITCOIND", "a second peer") else {
        return;
    };
    let peer_dir = test.path().join("peer");
    fs::create_dir_all(&peer_dir).unwrap();
    let _peer = Daemon(
        Command::new(bitcoind)
            .arg(format!("-datadir={}", peer_dir.display()))
            .args([
                "-listen=0",
                "-dnsseed=0",
                "-fixedseeds=0",
                "-server=0",
                "-disablewallet",
            ])
            .arg(format!("-connect=127.0.0.1:{}", knots.whitebind_port))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let permissions = common::wait_for(
        "the peer on NBXplorer's listener",
        Duration::from_secs(120),
        || {
            let (status, body) = knots.call(&user, &password, "getpeerinfo", "[]");
            let reply: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
            match reply["result"].as_array().and_then(|peers| peers.first()) {
                Some(peer) if status == 200 => Ok(peer["permissions"].clone()),
                _ => Err(body),
            }
        },
    );
    assert!(
        permissions
            .as_array()
            .unwrap()
            .contains(&Value::String("noban".into())),
        "{permissions}"
    );
    knots.stop(&user, &password);
}

#[test]
fn the_stores_onion_address_is_the_one_tor_serves_from_its_key() {
    let Some(tor) = common::required_program("OPENLSP_TEST_TOR", "the store's onion address")
    else {
        return;
    };
    let (test, docs) = shop();
    let (_tor, services, hostname) = crate::tor::serve_onions(&tor, &test, &docs, "btcpay");
    assert!(services.contains(&"btcpay".to_owned()), "{services:?}");
    let service = find(&docs, "Service", "btcpay");
    assert_eq!(
        hostname,
        service["metadata"]["annotations"]["openlsp.io/onion-address"]
    );
    assert!(
        common::config(&docs, "tor-config", "torrc")
            .contains("HiddenServicePort 80 btcpay.shop.svc:49392")
    );
}

#[test]
fn a_store_with_a_wrong_reference_is_refused_with_its_place() {
    for (from, to, line, message) in [
        (
            "    lightning: lnd\n",
            "    lightning: nope\n",
            "31:16",
            "spec.btcpay.lightning: no lightning node named \"nope\"",
        ),
        (
            "    bitcoin: bitcoind\n    lightning: lnd",
            "    bitcoin: elsewhere\n    lightning: lnd",
            "30:14",
            "spec.btcpay.bitcoin: no bitcoin node named \"elsewhere\"",
        ),
        (
            "  ingress:\n    email: shop@example.com\n",
            "",
            "31:11",
            "spec.btcpay.host: the store's Ingress needs spec.ingress",
        ),
    ] {
        let test = common::edited("shop", from, to);
        let output = test.run(["validate", "-p", "openlsp.yaml"]).expect(2);
        assert!(
            output.stderr.contains(&format!("openlsp.yaml:{line}"))
                && output.stderr.contains(message),
            "{to:?}:\n{}",
            output.stderr
        );
    }
    // Core Lightning is accepted: BTCPay reaches it through openlsp's tunnel, whose image is a
    // placeholder until the profile names a build.
    let test = common::appended("shop", "");
    let text = fs::read_to_string(test.path().join("openlsp.yaml")).unwrap();
    let text = text
        .replace(
            "    - name: lnd\n",
            "    - name: cln\n      implementation: cln\n",
        )
        .replace("    lightning: lnd\n", "    lightning: cln\n");
    test.write("openlsp.yaml", &text);
    let output = test.run(["validate", "-p", "openlsp.yaml"]).expect(0);
    assert!(
        output.stderr.contains("spec.btcpay.tunnelImage")
            && output.stderr.contains("cln (Core Lightning)"),
        "{}",
        output.stderr
    );
}

/// The rendered dump script with the pod's paths mapped into `dumps` and the server's socket,
/// and `interval` seconds between dumps.
fn mapped_dump_script(docs: &[Value], dumps: &Path, socket: &Path, interval: u32) -> String {
    let rendered = common::config(docs, "btcpay-postgres-dump", "dump-databases.sh");
    let mut mapped = String::new();
    let mut found = 0;
    for line in rendered.lines() {
        let replaced = match line {
            "dir=/run/dumps" => Some(format!("dir={}", dumps.display())),
            "socket=/var/run/postgresql" => Some(format!("socket={}", socket.display())),
            "interval=3600" => Some(format!("interval={interval}")),
            _ => None,
        };
        found += usize::from(replaced.is_some());
        mapped.push_str(&replaced.unwrap_or_else(|| line.to_owned()));
        mapped.push('\n');
    }
    assert_eq!(found, 3, "the pod's dump dir, socket and hourly interval");
    mapped
}

fn gunzip(path: &Path) -> String {
    let output = Command::new("gzip").arg("-dc").arg(path).output().unwrap();
    assert!(output.status.success(), "{} is a gzip file", path.display());
    String::from_utf8(output.stdout).unwrap()
}

fn modified(path: &Path) -> std::time::SystemTime {
    fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn the_hourly_dump_is_complete_private_copied_and_restores_into_a_new_server() {
    use std::os::unix::fs::PermissionsExt as _;

    let (test, docs) = shop();
    let superuser = secret_value(&docs, "btcpay-postgres", "postgres");
    let initdb = "--auth-local=peer --auth-host=scram-sha-256";
    let old_root = test.path().join("old");
    let new_root = test.path().join("new");
    for root in [&old_root, &new_root] {
        fs::create_dir_all(root).unwrap();
    }
    let Some(old) = Postgres::start(&old_root, initdb, &superuser) else {
        return;
    };
    old.init_databases(&docs);
    let store = secret_value(&docs, "btcpay-settings", "settings.config");
    let explorer = secret_value(&docs, "btcpay-nbxplorer-bitcoind-rpc", "settings.config");
    let login = |settings: &str| {
        let connection = setting(settings, "postgres");
        (
            npgsql_value(&connection, "User ID"),
            npgsql_value(&connection, "Password"),
            npgsql_value(&connection, "Database"),
        )
    };
    let (store_user, store_password, store_db) = login(&store);
    let (explorer_user, explorer_password, explorer_db) = login(&explorer);
    old.query(
        &store_user,
        &store_password,
        &store_db,
        "create table invoices (id text); insert into invoices values ('inv-1')",
    )
    .unwrap();
    old.query(
        &explorer_user,
        &explorer_password,
        &explorer_db,
        "create table tracked (scheme text); insert into tracked values ('xpub-1')",
    )
    .unwrap();

    // The pod's emptyDir: the pod's group, setgid; the script's umask keeps others out.
    let dumps = test.path().join("dumps");
    fs::create_dir_all(&dumps).unwrap();
    old.own(&dumps);
    let script = test.path().join("dump-databases.sh");
    fs::write(&script, mapped_dump_script(&docs, &dumps, &old.socket(), 1)).unwrap();
    let log = test.path().join("pg-dump.log");
    let _dumping = crate::backup::Group::spawn(
        old.as_postgres("sh")
            .arg(&script)
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap()),
    );
    let dump = dumps.join("btcpay.sql.gz");
    let written = dumps.join(".written");
    common::wait_for("the first dump", Duration::from_secs(60), || {
        if written.exists() {
            Ok(())
        } else {
            Err(fs::read_to_string(&log).unwrap_or_default())
        }
    });
    let mode = fs::metadata(&dump).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o640,
        "group-readable for the backup container, no one else"
    );
    let sql = gunzip(&dump);
    for expected in [
        format!("CREATE DATABASE \"{store_db}\""),
        format!("CREATE DATABASE \"{explorer_db}\""),
        "inv-1".to_owned(),
        "xpub-1".to_owned(),
    ] {
        assert!(sql.contains(&expected), "the dump holds {expected}");
    }
    assert_eq!(
        sql.matches("-- PostgreSQL database dump complete").count(),
        2
    );
    for password in [&superuser, &store_password, &explorer_password] {
        assert!(
            !sql.contains(password.as_str()),
            "no role password in the dump"
        );
    }
    assert!(
        !sql.contains("SCRAM-SHA-256$"),
        "no password verifier in the dump"
    );

    // An unchanged database is dumped again (the time noted) but the file stays: the backup
    // container sees no new version. A change makes a new file.
    let first = modified(&dump);
    let noted = fs::read_to_string(&written).unwrap();
    common::wait_for("a second, unchanged dump", Duration::from_secs(30), || {
        if fs::read_to_string(&written).unwrap() != noted {
            Ok(())
        } else {
            Err(String::new())
        }
    });
    assert_eq!(modified(&dump), first, "an unchanged dump is not replaced");
    old.query(
        &store_user,
        &store_password,
        &store_db,
        "insert into invoices values ('inv-2')",
    )
    .unwrap();
    common::wait_for("a new dump after a change", Duration::from_secs(30), || {
        if gunzip(&dump).contains("inv-2") {
            Ok(())
        } else {
            Err(String::new())
        }
    });

    // The rendered backup container copies the dump to its path target and verifies it.
    copy_with_the_backup_container(&test, &docs, &dump, &written);

    // A new machine: a new server that openlsp initialised, then the documented restore.
    let Some(new) = Postgres::start(&new_root, initdb, &superuser) else {
        return;
    };
    // Before the init there is nothing to dump: the script keeps no file and says why.
    let empty = test.path().join("empty-dumps");
    fs::create_dir_all(&empty).unwrap();
    new.own(&empty);
    let failing = test.path().join("failing.sh");
    fs::write(
        &failing,
        mapped_dump_script(&docs, &empty, &new.socket(), 1),
    )
    .unwrap();
    let failing_log = test.path().join("failing.log");
    let failed = crate::backup::Group::spawn(
        new.as_postgres("sh")
            .arg(&failing)
            .stdout(Stdio::null())
            .stderr(fs::File::create(&failing_log).unwrap()),
    );
    common::wait_for("the dump to fail", Duration::from_secs(30), || {
        let log = fs::read_to_string(&failing_log).unwrap_or_default();
        if log.contains("pg_dump failed for") {
            Ok(())
        } else {
            Err(log)
        }
    });
    drop(failed);
    assert!(
        !empty.join("btcpay.sql.gz").exists(),
        "a failed dump is not kept"
    );
    assert!(!empty.join(".written").exists());

    new.init_databases(&docs);
    let restored = new
        .as_postgres("sh")
        .arg("-c")
        .arg(format!(
            "gzip -dc {} | psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres",
            dump.display()
        ))
        .output()
        .unwrap();
    assert!(
        restored.status.success(),
        "the restore failed: {}",
        String::from_utf8_lossy(&restored.stderr)
    );
    // Each app logs in with its own password, as before, and finds its data.
    assert_eq!(
        new.query(
            &store_user,
            &store_password,
            &store_db,
            "select string_agg(id, ',' order by id) from invoices"
        )
        .unwrap(),
        "inv-1,inv-2"
    );
    assert_eq!(
        new.query(
            &explorer_user,
            &explorer_password,
            &explorer_db,
            "select scheme from tracked"
        )
        .unwrap(),
        "xpub-1"
    );
}

/// The rendered `btcpay-postgres-backup` settings with the pod's paths mapped into the test's
/// dir, run by the backup script under busybox with rclone, until the `usb` target holds the
/// dump, verified, and its metrics note when the dump was written.
fn copy_with_the_backup_container(test: &Test, docs: &[Value], dump: &Path, written: &Path) {
    let Some(rclone) = common::required_program("OPENLSP_TEST_RCLONE", "the backup script") else {
        return;
    };
    let Some(busybox) = common::required_program("OPENLSP_TEST_BUSYBOX", "the backup script")
    else {
        return;
    };
    let root = test.path().join("backup");
    fs::create_dir_all(root.join("usb")).unwrap();
    let rendered = common::config(docs, "btcpay-postgres-backup", "backup.conf");
    let mut conf = String::new();
    for line in rendered.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let mapped = match key {
            "source" => {
                assert_eq!(value, "/run/dumps/btcpay.sql.gz");
                format!("source {}", dump.display())
            }
            "written" => {
                assert_eq!(value, "/run/dumps/.written");
                format!("written {}", written.display())
            }
            "run" | "status" | "work" => format!("{key} {}{value}", root.display()),
            "target" => {
                assert_eq!(value, "usb /backup/usb/shop/btcpay-postgres -");
                format!("target usb {}/usb/shop/btcpay-postgres -", root.display())
            }
            _ => line.to_owned(),
        };
        conf.push_str(&mapped);
        conf.push('\n');
    }
    let port = free_port();
    conf.push_str(&format!("metrics {port}\n"));
    fs::write(root.join("backup.conf"), conf).unwrap();
    fs::write(
        root.join("backup.sh"),
        common::config(docs, "btcpay-postgres-backup", "backup.sh"),
    )
    .unwrap();
    let bin = crate::backup::image_like_path(&root, &busybox, &rclone, None);
    let _backup = crate::backup::run_script(
        &bin,
        &root,
        &root.join("backup.sh"),
        &root.join("backup.conf"),
        &root.join("backup.log"),
    );
    let copy = root.join("usb/shop/btcpay-postgres/btcpay.sql.gz");
    common::wait_for("the dump on the target", Duration::from_secs(30), || {
        if copy.exists() && fs::read(&copy).unwrap() == fs::read(dump).unwrap() {
            Ok(())
        } else {
            Err(fs::read_to_string(root.join("backup.log")).unwrap_or_default())
        }
    });
    let noted: u64 = fs::read_to_string(written).unwrap().trim().parse().unwrap();
    let name =
        "openlsp_backup_source_written_timestamp_seconds{node=\"btcpay-postgres\",target=\"usb\"} ";
    common::wait_for(
        "the written time in the metrics",
        Duration::from_secs(30),
        || {
            let metrics =
                fs::read_to_string(root.join("run/backup/metrics/metrics.txt")).unwrap_or_default();
            let value = metrics
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|value| value.parse::<u64>().ok());
            match value {
                Some(value) if value >= noted => Ok(()),
                _ => Err(metrics),
            }
        },
    );
}

/// The shop with a second target, an rclone remote, and `extra` lines at the end of spec.btcpay.
fn shop_with_remote(remote: &str, extra: &str) -> Test {
    let test = common::edited(
        "shop",
        "        path: /mnt/usb/openlsp-backup\n",
        &format!(
            "        path: /mnt/usb/openlsp-backup\n      - name: nas\n        rclone: {{ remote: \"{remote}:openlsp\", config: backup-rclone }}\n"
        ),
    );
    if !extra.is_empty() {
        let text = fs::read_to_string(test.path().join("openlsp.yaml")).unwrap();
        let text = text.replace("    onion: true\n", &format!("    onion: true\n{extra}"));
        test.write("openlsp.yaml", &text);
    }
    test
}

const PLAIN_REMOTE: &str = "[nas]\ntype = sftp\nhost = nas.lan\nuser = shop-backup-5521\n";
const CRYPT_REMOTE: &str = "[nas]\ntype = sftp\nhost = nas.lan\nuser = shop-backup-5521\n\n[safe]\ntype = crypt\nremote = nas:openlsp\npassword = obscured-crypt-Kq20Lm\n";

/// The dump goes to every target unless spec.btcpay.backupTargets names some; an rclone target
/// that gets it must be a crypt remote (`secrets set` and `render` refuse a plain one); an
/// unknown name is an error at its place, no target a warning.
#[test]
fn the_database_dump_goes_to_named_targets_and_only_to_a_crypt_remote() {
    let set = |test: &Test, config: &str| {
        test.write("rclone.conf", config);
        crate::backup::set_rclone_config(test)
    };
    // Every target by default: the plain remote is refused, nothing kept.
    let plain = shop_with_remote("nas", "");
    let refused = set(&plain, PLAIN_REMOTE).expect(2);
    assert!(
        refused
            .stderr
            .contains("remote \"nas\" is of type \"sftp\"")
            && refused.stderr.contains("BTCPay's database dump")
            && refused.stderr.contains("crypt")
            && refused.stderr.contains("nothing was changed"),
        "{}",
        refused.stderr
    );
    assert!(
        !plain
            .state_dir("shop")
            .join("provided/backup-rclone/rclone.conf")
            .exists()
    );

    // Leaving the remote out of the dump's targets: LND's SCB (encrypted already) goes there.
    let usb_only = shop_with_remote("nas", "    backupTargets: [usb]\n");
    set(&usb_only, PLAIN_REMOTE).expect(0);
    let (docs, _) = render(&usb_only, "openlsp.yaml");
    let dump_conf = common::config(&docs, "btcpay-postgres-backup", "backup.conf");
    assert!(dump_conf.contains("\ntarget usb /backup/usb/shop/btcpay-postgres -\n"));
    assert!(!dump_conf.contains("target nas"), "{dump_conf}");
    let lnd_conf = common::config(&docs, "lnd-backup", "backup.conf");
    assert!(
        lnd_conf.contains("\ntarget nas nas:openlsp/shop/lnd "),
        "{lnd_conf}"
    );
    // The same state dir with the dump to every target again: render refuses the plain remote.
    let text = fs::read_to_string(usb_only.path().join("openlsp.yaml")).unwrap();
    usb_only.write(
        "openlsp.yaml",
        &text.replace("    backupTargets: [usb]\n", ""),
    );
    let stale = usb_only.run(["render", "-p", "openlsp.yaml"]).expect(2);
    assert!(
        stale.stderr.contains(
            "spec.backup.targets[1].rclone.remote: BTCPay's database dump goes to this target"
        ),
        "{}",
        stale.stderr
    );
    assert!(stale.stdout.is_empty(), "nothing rendered");

    // A crypt remote takes it; the dump's copies go through it.
    let crypt = shop_with_remote("safe", "");
    set(&crypt, CRYPT_REMOTE).expect(0);
    let (docs, _) = render(&crypt, "openlsp.yaml");
    let dump_conf = common::config(&docs, "btcpay-postgres-backup", "backup.conf");
    assert!(
        dump_conf.contains(
            "\ntarget nas safe:openlsp/shop/btcpay-postgres /etc/openlsp/rclone/backup-rclone/rclone.conf\n"
        ),
        "{dump_conf}"
    );
    // The pod reaches the remote; the scrape of its backup container comes from monitoring.
    let policy = find(&docs, "NetworkPolicy", "btcpay-postgres");
    assert!(
        policy["spec"]["policyTypes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "Egress")
    );
    let text = serde_json::to_string(&policy).unwrap();
    assert!(text.contains("9741"), "the backup metrics port: {text}");
    for value in ["obscured-crypt-Kq20Lm", "shop-backup-5521"] {
        let rendered = crypt.run(["render", "-p", "openlsp.yaml"]).expect(0);
        assert!(!rendered.stdout.contains(value) && !rendered.stderr.contains(value));
    }

    // Names are checked at their place; none at all is a warning.
    let unknown = shop_with_remote("safe", "    backupTargets: [usb, offsite]\n");
    let output = unknown.run(["validate", "-p", "openlsp.yaml"]).expect(2);
    assert!(
        output.stderr.contains("spec.btcpay.backupTargets[1]")
            && output.stderr.contains("no backup target named \"offsite\"")
            && output.stderr.contains("openlsp.yaml:"),
        "{}",
        output.stderr
    );
    let none = shop_with_remote("safe", "    backupTargets: []\n");
    let output = none.run(["validate", "-p", "openlsp.yaml"]).expect(0);
    assert!(
        output.stderr.contains("BTCPay's database")
            && output.stderr.contains("is dumped to no backup target"),
        "{}",
        output.stderr
    );
    set(&none, CRYPT_REMOTE).expect(0);
    let (docs, _) = render(&none, "openlsp.yaml");
    assert!(
        !docs
            .iter()
            .any(|d| d["metadata"]["name"] == "btcpay-postgres-dump"),
        "no dump without targets"
    );
}
