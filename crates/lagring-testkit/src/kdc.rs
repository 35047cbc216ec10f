//! A Kerberos realm of its own for a test: MIT's `krb5kdc` on a free loopback port, its
//! database, configuration, keytabs and ticket cache all in one temporary directory, so tests
//! need no root, no `/etc/krb5.conf` and no DNS.
//!
//! The realm is `LAGRING.TEST`. The brokers' service principal is `kafka/127.0.0.1`: librdkafka
//! names the broker by the host of its address, and the realm's `krb5.conf` turns hostname
//! canonicalisation off (`dns_canonicalize_hostname = false`, `rdns = false`), so `127.0.0.1`
//! is not rewritten to `localhost` on the way. Its key is the realm's default keytab, which the
//! simulator's GSSAPI acceptor uses; the ticket cache is the realm's default cache, which
//! librdkafka's `kinit` fills and its GSSAPI plugin reads.
//!
//! Kerberos libraries find all of that through `KRB5_CONFIG`, an environment variable of the
//! whole process. A test therefore runs in a child process of its own ([`in_own_realm`]): the
//! test binary starts the KDC, runs itself again for that one test with `KRB5_CONFIG` pointing
//! at the realm, and keeps the KDC until the child has ended, so tests in one binary run side
//! by side, each with its realm, and a crashed child never leaves a KDC behind.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::ports::{free_port, wait_for_tcp};
use crate::process::ServerProcess;

/// The test realm.
pub const REALM: &str = "LAGRING.TEST";

/// The brokers' service principal (`sasl.kerberos.service.name` `kafka`, broker host `127.0.0.1`).
pub const SERVICE_PRINCIPAL: &str = "kafka/127.0.0.1@LAGRING.TEST";

/// Names the realm's directory in a child process.
const DIR_ENV: &str = "LAGRING_TEST_KDC_DIR";

/// The longest a realm's child test may run.
const CHILD_TIMEOUT: Duration = Duration::from_secs(180);

/// How the KDC issues tickets.
#[derive(Debug, Clone)]
pub struct KdcOptions {
    /// The longest ticket lifetime (the realm's `max_life`); tickets are never renewable, so a
    /// client must get a new one from its keytab before this passes.
    pub max_life: Duration,
}

impl Default for KdcOptions {
    fn default() -> Self {
        KdcOptions { max_life: Duration::from_secs(600) }
    }
}

/// The files of a realm; usable in the process that started the KDC and in its test child.
#[derive(Debug, Clone)]
pub struct Realm {
    dir: PathBuf,
}

impl Realm {
    /// The realm of this test child, when the process is one.
    pub fn from_env() -> Option<Realm> {
        std::env::var_os(DIR_ENV).map(|dir| Realm { dir: PathBuf::from(dir) })
    }

    /// The `krb5.conf` clients use (`KRB5_CONFIG`).
    pub fn krb5_conf(&self) -> PathBuf {
        self.dir.join("krb5.conf")
    }

    /// The keytab [`Realm::add_principal`] wrote for `principal`.
    pub fn keytab(&self, principal: &str) -> PathBuf {
        let file: String = principal.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        self.dir.join(format!("{file}.keytab"))
    }

    /// The default keytab: the brokers' service key.
    pub fn service_keytab(&self) -> PathBuf {
        self.keytab(SERVICE_PRINCIPAL)
    }

    /// The default ticket cache.
    pub fn ccache(&self) -> PathBuf {
        self.dir.join("ccache")
    }

    /// Creates `principal` (`name/instance@LAGRING.TEST`) with a random key and writes its keytab.
    pub fn add_principal(&self, principal: &str) -> Result<PathBuf> {
        self.kadmin(&format!("addprinc -randkey {principal}"))?;
        self.export_keytab(principal)
    }

    /// Gives `principal` a new random key and adds it to its keytab (the KDC accepts only the
    /// newest key, so a copy of the keytab taken before is stale).
    pub fn export_keytab(&self, principal: &str) -> Result<PathBuf> {
        let keytab = self.keytab(principal);
        self.kadmin(&format!("ktadd -k {} {principal}", keytab.display()))?;
        Ok(keytab)
    }

    /// Gives `principal` a new random key without writing it anywhere: its keytab is stale.
    pub fn rekey(&self, principal: &str) -> Result<()> {
        self.kadmin(&format!("cpw -randkey {principal}"))
    }

    /// The KDC's log (one line per ticket issued or refused).
    pub fn kdc_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kdc.log")).unwrap_or_default()
    }

    /// Ticket-granting tickets the KDC issued to `principal` (each a `kinit`).
    pub fn tgts_issued(&self, principal: &str) -> usize {
        let tgs = format!("{principal} for krbtgt/{REALM}@{REALM}");
        self.kdc_log().lines().filter(|l| l.contains("AS_REQ") && l.contains("ISSUE") && l.contains(&tgs)).count()
    }

    /// `program` with the realm's configuration and nothing of the caller's Kerberos environment.
    /// The KDC's programs live in `/usr/sbin`, which a user's `PATH` may lack.
    pub fn command(&self, program: &str) -> Command {
        let sbin = Path::new("/usr/sbin").join(program);
        let mut cmd = if sbin.is_file() { Command::new(sbin) } else { Command::new(program) };
        cmd.env("KRB5_CONFIG", self.krb5_conf())
            .env("KRB5_KDC_PROFILE", self.dir.join("kdc.conf"))
            .env_remove("KRB5CCNAME")
            .env_remove("KRB5_KTNAME")
            .env_remove("KRB5_CLIENT_KTNAME");
        cmd
    }

    fn kadmin(&self, query: &str) -> Result<()> {
        run(self.command("kadmin.local").args(["-r", REALM, "-q", query]))
    }
}

/// A running KDC; killed, with its directory removed, on drop.
#[derive(Debug)]
pub struct Kdc {
    realm: Realm,
    process: ServerProcess,
    _dir: TempDir,
}

impl Kdc {
    /// Creates the realm with the service principal and starts `krb5kdc`, waiting until it listens.
    pub fn start(options: &KdcOptions) -> Result<Kdc> {
        let dir = tempfile::tempdir().context("create the kdc's temp dir")?;
        let realm = Realm { dir: dir.path().to_path_buf() };
        let port = free_port()?;
        write_config(&realm.dir, port, options)?;
        run(realm.command("kdb5_util").args(["create", "-s", "-r", REALM, "-P", "lagring-test-master-key"]))?;
        realm.add_principal(SERVICE_PRINCIPAL)?;
        let mut cmd = realm.command("krb5kdc");
        cmd.args(["-n", "-r", REALM]);
        let mut process = ServerProcess::spawn("krb5kdc", cmd, &realm.dir)?;
        if let Err(err) = wait_for_tcp(port, Duration::from_secs(10)) {
            return Err(process.context_for(err));
        }
        if !process.is_running() {
            return Err(process.context_for(anyhow::anyhow!("krb5kdc exited at start")));
        }
        Ok(Kdc { realm, process, _dir: dir })
    }

    /// The realm's files.
    pub fn realm(&self) -> &Realm {
        &self.realm
    }

    /// Runs the test named `test` of this test binary in a child process whose Kerberos
    /// environment is this realm's; its output is printed here. Fails when the child does.
    pub fn run_test_in_child(&mut self, test: &str) -> Result<()> {
        let exe = std::env::current_exe().context("find the test binary")?;
        let out = self.realm.dir.join(format!("{test}.out"));
        let file = std::fs::File::create(&out).with_context(|| format!("create {}", out.display()))?;
        let mut child = self
            .realm
            .command(&exe.to_string_lossy())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(DIR_ENV, &self.realm.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .spawn()
            .context("start the test child")?;
        let deadline = Instant::now() + CHILD_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        println!("{}", std::fs::read_to_string(&out).unwrap_or_default());
        match status {
            Some(status) if status.success() && self.process.is_running() => Ok(()),
            Some(status) if status.success() => bail!("krb5kdc died during the test: {}", self.process.log_tail(2000)),
            Some(status) => bail!("test {test} failed in its realm ({status}); kdc log:\n{}", self.realm.kdc_log()),
            None => bail!("test {test} ran longer than {CHILD_TIMEOUT:?}"),
        }
    }
}

/// Runs `body` in a Kerberos realm of its own: called by the test named `test` (its full name
/// in the binary), it starts a KDC with `options` and runs that test again in a child process
/// set up for the realm; there, it runs `body` on a 2-thread tokio runtime. Panics on failure.
pub fn in_own_realm<F, Fut>(test: &str, options: &KdcOptions, body: F)
where
    F: FnOnce(Realm) -> Fut,
    Fut: Future<Output = ()>,
{
    if let Some(realm) = Realm::from_env() {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
        runtime.unwrap_or_else(|e| panic!("tokio runtime: {e}")).block_on(body(realm));
        return;
    }
    let mut kdc = Kdc::start(options).unwrap_or_else(|e| panic!("start a kdc: {e:#}"));
    kdc.run_test_in_child(test).unwrap_or_else(|e| panic!("{e:#}"));
}

fn write_config(dir: &Path, port: u16, options: &KdcOptions) -> Result<()> {
    let d = dir.display();
    let keytab = Realm { dir: dir.to_path_buf() }.service_keytab();
    let krb5 = format!(
        "[libdefaults]\n  default_realm = {REALM}\n  dns_lookup_kdc = false\n  dns_lookup_realm = false\n  \
         dns_canonicalize_hostname = false\n  rdns = false\n  udp_preference_limit = 1\n  \
         default_ccache_name = FILE:{d}/ccache\n  default_keytab_name = FILE:{keytab}\n\
         [realms]\n  {REALM} = {{\n    kdc = 127.0.0.1:{port}\n  }}\n",
        keytab = keytab.display(),
    );
    let kdc = format!(
        "[kdcdefaults]\n  kdc_listen = 127.0.0.1:{port}\n  kdc_tcp_listen = 127.0.0.1:{port}\n\
         [realms]\n  {REALM} = {{\n    database_name = {d}/principal\n    key_stash_file = {d}/stash\n    \
         max_life = {life}s\n    max_renewable_life = 0\n    \
         supported_enctypes = aes256-cts-hmac-sha1-96:normal\n  }}\n\
         [logging]\n  kdc = FILE:{d}/kdc.log\n",
        life = options.max_life.as_secs().max(1),
    );
    std::fs::write(dir.join("krb5.conf"), krb5).context("write krb5.conf")?;
    std::fs::write(dir.join("kdc.conf"), kdc).context("write kdc.conf")?;
    Ok(())
}

/// Runs a Kerberos admin command to completion; its output is the error when it fails.
fn run(cmd: &mut Command) -> Result<()> {
    let output = cmd.output().with_context(|| format!("run {cmd:?}"))?;
    if !output.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
