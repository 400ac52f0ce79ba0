//! A real IMAP server for the tests: a private Dovecot on 127.0.0.1, one per
//! `Dovecot::start()`, with its own configuration, folder and port, so tests
//! in parallel processes never share one. Mailbox users live in one
//! passwd-file per user, which Dovecot reads at each login, so users added
//! after the start log in at once.
//!
//! Also the raw mail fixtures of `tests/fixtures/mail/` and their manifest.
//!
//! Dovecot (packages dovecot-core and dovecot-imapd) is installed by
//! `scripts/services.sh`. The tests run as root: Dovecot's login processes
//! run as `dovenull`, its internal processes as `dovecot` and the mail
//! processes as `nobody`, who owns the mail folder.

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const DOVECOT: &str = "/usr/sbin/dovecot";
/// How long a start (or restart) may take before the test fails.
const START_DEADLINE: Duration = Duration::from_secs(10);
/// How long a stopping Dovecot may take before it is killed. Dovecot's
/// master waits about a second for its log process on SIGTERM.
const STOP_DEADLINE: Duration = Duration::from_secs(10);

/// The folder all instances live under: `<tmp>/nestogy-dovecot/<id>/`.
fn root() -> PathBuf {
    std::env::temp_dir().join("nestogy-dovecot")
}

pub struct Dovecot {
    pub port: u16,
    /// This instance's folder: `dovecot.conf`, `users/`, `mail/`, `run/`
    /// (base_dir), `state/`, `dovecot.log`, `stderr.log`.
    dir: PathBuf,
    /// Part of the greeting, so a poll knows it reached this instance and
    /// not whatever else took the port.
    greeting: String,
    /// The master process; replaced when `reset_uidvalidity` restarts it.
    child: Mutex<Option<Child>>,
}

/// Why a launch failed.
enum LaunchError {
    /// The port was taken between choosing it and Dovecot binding it.
    PortTaken,
    Failed(String),
}

impl Dovecot {
    /// Starts a private Dovecot on 127.0.0.1 with a fresh folder under the
    /// system's temporary folder, and waits until it greets (at most 10 s).
    /// Panics with Dovecot's log when it does not come up.
    pub async fn start() -> Dovecot {
        assert!(
            Path::new(DOVECOT).exists(),
            "{DOVECOT} is missing: run scripts/services.sh (installs dovecot-core and dovecot-imapd)"
        );
        sweep_stale_instances();
        let id = uuid::Uuid::now_v7().simple().to_string();
        let dir = root().join(&id);
        for sub in ["users", "mail", "state"] {
            std::fs::create_dir_all(dir.join(sub)).expect("create the Dovecot folder");
        }
        // Only root can hand the mail folder to `nobody`.
        let (uid, gid) = (
            system_id("/etc/passwd", "nobody"),
            system_id("/etc/group", "nogroup"),
        );
        std::os::unix::fs::chown(dir.join("mail"), Some(uid), Some(gid)).unwrap_or_else(|e| {
            panic!("chown the mail folder to nobody ({e}): the IMAP tests run Dovecot as root")
        });
        std::fs::write(dir.join("owner.pid"), std::process::id().to_string())
            .expect("write owner.pid");
        let greeting = format!("nestogy-test-dovecot-{id} ready.");
        let mut last = String::new();
        for _ in 0..10 {
            let port = free_port();
            std::fs::write(dir.join("dovecot.conf"), config(&dir, port, &greeting))
                .expect("write dovecot.conf");
            match launch(&dir, port, &greeting).await {
                Ok(child) => {
                    return Dovecot {
                        port,
                        dir,
                        greeting,
                        child: Mutex::new(Some(child)),
                    };
                }
                Err(LaunchError::PortTaken) => last = format!("port {port} was taken"),
                Err(LaunchError::Failed(why)) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    panic!("Dovecot did not start: {why}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("Dovecot did not start: no free port after 10 tries ({last})");
    }

    /// Adds a mailbox user (e.g. `support@msp-a.test`), or changes its
    /// password; returns once the user can log in.
    pub fn add_user(&self, user: &str, password: &str) {
        assert!(
            password
                .chars()
                .all(|c| c.is_ascii() && !c.is_ascii_control() && c != ':'),
            "a password for the test Dovecot is printable ASCII without ':'"
        );
        let (name, domain) = split_user(user);
        let folder = self.dir.join("users").join(&domain);
        std::fs::create_dir_all(&folder).expect("create the users folder");
        // Written aside and renamed, so Dovecot never reads half a file.
        let tmp = folder.join(format!(".{name}.tmp"));
        std::fs::write(
            &tmp,
            format!("{}:{{PLAIN}}{password}::::::\n", user.to_lowercase()),
        )
        .expect("write the passwd-file");
        std::fs::rename(&tmp, folder.join(&name)).expect("publish the passwd-file");
        // Dovecot rereads a passwd-file at most once a second: a changed
        // password may need a moment. A new user's file is read at once.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.try_login_blocking(user, password) {
                Ok(()) => return,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!(
                    "user {user} cannot log in after add_user: {e}\n{}",
                    self.log()
                ),
            }
        }
    }

    /// An async-imap session logged in as `user` (nothing selected).
    pub async fn session(&self, user: &str, password: &str) -> async_imap::Session<TcpStream> {
        let stream = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect to Dovecot");
        let mut client = async_imap::Client::new(stream);
        client
            .read_response()
            .await
            .expect("read the greeting")
            .expect("Dovecot closed the connection before greeting");
        client
            .login(user, password)
            .await
            .map_err(|(e, _)| e)
            .unwrap_or_else(|e| panic!("log in as {user}: {e}\n{}", self.log()))
    }

    /// APPENDs one raw message to `folder` (created when missing) and
    /// returns its UID. `seen` sets \Seen.
    pub async fn append(
        &self,
        user: &str,
        password: &str,
        folder: &str,
        raw: &[u8],
        seen: bool,
    ) -> u32 {
        self.append_all(user, password, folder, &[(raw, seen)])
            .await[0]
    }

    /// APPENDs many messages over one connection with MULTIAPPEND (1,000
    /// per command, pipelined, no round trip per message); returns their
    /// UIDs in order.
    pub async fn append_many(
        &self,
        user: &str,
        password: &str,
        folder: &str,
        raws: &[Vec<u8>],
    ) -> Vec<u32> {
        let items: Vec<(&[u8], bool)> = raws.iter().map(|r| (r.as_slice(), false)).collect();
        self.append_all(user, password, folder, &items).await
    }

    /// Sets \Seen on a message, as another mail client would.
    pub async fn set_seen(&self, user: &str, password: &str, folder: &str, uid: u32) {
        let mut s = self.session(user, password).await;
        s.select(folder)
            .await
            .unwrap_or_else(|e| panic!("select {folder}: {e}"));
        let _: Vec<_> = s
            .uid_store(uid.to_string(), "+FLAGS.SILENT (\\Seen)")
            .await
            .expect("UID STORE")
            .try_collect()
            .await
            .expect("UID STORE responses");
        s.logout().await.expect("logout");
    }

    /// The folder's current UIDVALIDITY.
    pub async fn uidvalidity(&self, user: &str, password: &str, folder: &str) -> u32 {
        let mut s = self.session(user, password).await;
        let mailbox = s
            .examine(folder)
            .await
            .unwrap_or_else(|e| panic!("examine {folder}: {e}"));
        s.logout().await.expect("logout");
        mailbox
            .uid_validity
            .expect("UIDVALIDITY in the EXAMINE reply")
    }

    /// Makes Dovecot assign the folder a new UIDVALIDITY while keeping its
    /// messages (and their flags): a client then sees the same messages
    /// under a new UIDVALIDITY, numbered from 1 again. Dovecot is stopped,
    /// the folder's `dovecot-uidlist` and index files (and the mailbox list
    /// index, which caches UIDVALIDITY for STATUS) are deleted, and Dovecot
    /// is started again on the same port. Open connections are cut.
    /// Returns the new value (asserted to differ from the old one).
    pub async fn reset_uidvalidity(&self, user: &str, password: &str, folder: &str) -> u32 {
        let before = self.uidvalidity(user, password, folder).await;
        let (count_before, _) = self.status(user, password, folder).await;
        self.stop();
        let maildir = self.maildir(user);
        let folder_dir = if folder.eq_ignore_ascii_case("INBOX") {
            maildir.clone()
        } else {
            maildir.join(format!(".{folder}"))
        };
        assert!(
            folder_dir.join("dovecot-uidlist").exists(),
            "no dovecot-uidlist in {}",
            folder_dir.display()
        );
        for (dir, prefixes) in [
            (&folder_dir, &["dovecot-uidlist", "dovecot.index"][..]),
            (&maildir, &["dovecot.list.index"][..]),
        ] {
            for entry in std::fs::read_dir(dir).expect("read the maildir") {
                let entry = entry.expect("maildir entry");
                let name = entry.file_name().to_string_lossy().into_owned();
                if prefixes.iter().any(|p| name.starts_with(p)) {
                    std::fs::remove_file(entry.path()).expect("delete an index file");
                }
            }
        }
        // The port was ours a moment ago; whatever lingers of the old
        // instance may hold it for a moment.
        let deadline = Instant::now() + START_DEADLINE;
        let child = loop {
            match launch(&self.dir, self.port, &self.greeting).await {
                Ok(child) => break child,
                Err(LaunchError::PortTaken) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(LaunchError::PortTaken) => {
                    panic!("Dovecot could not rebind port {}", self.port)
                }
                Err(LaunchError::Failed(why)) => panic!("Dovecot did not restart: {why}"),
            }
        };
        *self.child.lock().expect("child lock") = Some(child);
        let after = self.uidvalidity(user, password, folder).await;
        assert_ne!(after, before, "UIDVALIDITY of {folder} did not change");
        let (count_after, _) = self.status(user, password, folder).await;
        assert_eq!(
            count_after, count_before,
            "messages of {folder} lost in the reset"
        );
        after
    }

    /// The number of messages in the folder and the UIDs flagged \Seen,
    /// ascending. Uses EXAMINE, so it changes nothing.
    pub async fn status(&self, user: &str, password: &str, folder: &str) -> (u32, Vec<u32>) {
        let mut s = self.session(user, password).await;
        let mailbox = s
            .examine(folder)
            .await
            .unwrap_or_else(|e| panic!("examine {folder}: {e}"));
        let mut seen: Vec<u32> = s
            .uid_search("SEEN")
            .await
            .expect("UID SEARCH SEEN")
            .into_iter()
            .collect();
        seen.sort_unstable();
        s.logout().await.expect("logout");
        (mailbox.exists, seen)
    }

    /// Dovecot's log so far (for failure messages).
    pub fn log(&self) -> String {
        logs(&self.dir)
    }

    /// `DIR/mail/<domain>/<name>/Maildir`, as `mail_location` says
    /// (Dovecot lower-cases user names).
    fn maildir(&self, user: &str) -> PathBuf {
        let (name, domain) = split_user(user);
        self.dir
            .join("mail")
            .join(domain)
            .join(name)
            .join("Maildir")
    }

    async fn append_all(
        &self,
        user: &str,
        password: &str,
        folder: &str,
        items: &[(&[u8], bool)],
    ) -> Vec<u32> {
        let mut c = RawImap::login(self.port, user, password)
            .await
            .unwrap_or_else(|e| panic!("log in as {user}: {e}\n{}", self.log()));
        if !folder.eq_ignore_ascii_case("INBOX") {
            let reply = c
                .command(&format!("CREATE {}", quote(folder)))
                .await
                .expect("CREATE");
            assert!(
                reply.starts_with("OK") || reply.contains("[ALREADYEXISTS]"),
                "CREATE {folder}: {reply}"
            );
        }
        let uids = c
            .append_multi(folder, items)
            .await
            .unwrap_or_else(|e| panic!("APPEND to {folder}: {e}\n{}", self.log()));
        let _ = c.command("LOGOUT").await;
        uids
    }

    /// LOGIN over a blocking socket (add_user is not async).
    fn try_login_blocking(&self, user: &str, password: &str) -> Result<(), String> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port))
            .map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let mut r = std::io::BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
        let mut line = String::new();
        r.read_line(&mut line)
            .map_err(|e| format!("greeting: {e}"))?;
        write!(s, "a LOGIN {} {}\r\n", quote(user), quote(password)).map_err(|e| e.to_string())?;
        loop {
            line.clear();
            if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err("connection closed".to_owned());
            }
            if let Some(rest) = line.strip_prefix("a ") {
                let _ = write!(s, "b LOGOUT\r\n");
                let _ = r.read_to_end(&mut Vec::new());
                return if rest.starts_with("OK") {
                    Ok(())
                } else {
                    Err(rest.trim_end().to_owned())
                };
            }
        }
    }

    /// SIGTERM, wait (SIGKILL after `STOP_DEADLINE`).
    fn stop(&self) {
        let Some(mut child) = self.child.lock().expect("child lock").take() else {
            return;
        };
        let termed = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .is_ok_and(|s| s.success());
        if !termed {
            let _ = child.kill();
        }
        let deadline = Instant::now() + STOP_DEADLINE;
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return;
                }
            }
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The configuration of one instance: everything under `dir`, nothing from
/// /etc/dovecot.
fn config(dir: &Path, port: u16, greeting: &str) -> String {
    let d = dir.display();
    format!(
        r#"# A private Dovecot for one test (tests/api/dovecot.rs).
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
instance_name = nestogy-test
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
login_greeting = {greeting}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# No brute-force delays: tests log in with wrong passwords on purpose.
auth_failure_delay = 0
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:{d}/mail/%d/%n/Maildir
mail_fsync = never
mail_max_userip_connections = 1000
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/users/%d/%n
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={d}/mail/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  # Disables the auth penalty (doubling delays after failed logins).
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"#
    )
}

/// Starts the master on the configuration in `dir` and polls until it
/// greets with `greeting`.
async fn launch(dir: &Path, port: u16, greeting: &str) -> Result<Child, LaunchError> {
    // A fresh base_dir: a stale socket left by a previous run (say
    // anvil-auth-penalty) makes Dovecot retry connecting to it for 5 s.
    let run = dir.join("run");
    let _ = std::fs::remove_dir_all(&run);
    std::fs::create_dir_all(&run).expect("create base_dir");
    let log_start = logs(dir).len();
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("stderr.log"))
        .expect("open stderr.log");
    let mut child = Command::new(DOVECOT)
        .arg("-F")
        .arg("-c")
        .arg(dir.join("dovecot.conf"))
        .stdin(Stdio::null())
        .stdout(err.try_clone().expect("stderr.log"))
        .stderr(err)
        .spawn()
        .map_err(|e| LaunchError::Failed(format!("spawn {DOVECOT}: {e}")))?;
    let deadline = Instant::now() + START_DEADLINE;
    let fail = |child: &mut Child, why: String| {
        let _ = child.kill();
        let _ = child.wait();
        let log = logs(dir);
        let log = log.get(log_start..).unwrap_or(&log).to_owned();
        if log.contains("Address already in use") {
            LaunchError::PortTaken
        } else {
            LaunchError::Failed(format!("{why}\n--- Dovecot's log ---\n{log}"))
        }
    };
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(fail(&mut child, format!("dovecot exited: {status}")));
        }
        if Instant::now() >= deadline {
            return Err(fail(
                &mut child,
                format!("no greeting on port {port} within {START_DEADLINE:?}"),
            ));
        }
        match greets(port).await {
            Some(line) if line.contains(greeting) => return Ok(child),
            // Something else answers on the port: it was taken.
            Some(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(LaunchError::PortTaken);
            }
            None => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// The greeting line on `port`, if something answers.
async fn greets(port: u16) -> Option<String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    match tokio::time::timeout(Duration::from_secs(2), r.read_line(&mut line)).await {
        Ok(Ok(n)) if n > 0 => Some(line),
        _ => None,
    }
}

/// Dovecot's log and anything it printed before it had one.
fn logs(dir: &Path) -> String {
    let read = |f: &str| {
        std::fs::read(dir.join(f))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    format!("{}{}", read("stderr.log"), read("dovecot.log"))
}

/// A port that was free a moment ago (Dovecot cannot bind port 0 itself).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local address")
        .port()
}

/// Numeric id of a user or group from /etc/passwd or /etc/group.
fn system_id(file: &str, name: &str) -> u32 {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            (f.next() == Some(name))
                .then(|| f.nth(1).and_then(|id| id.parse().ok()))
                .flatten()
        })
        .unwrap_or(65534)
}

/// Stops instances whose test process died without dropping them (killed
/// by a timeout, say) and removes their folders.
fn sweep_stale_instances() {
    let Ok(entries) = std::fs::read_dir(root()) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let Some(owner) = std::fs::read_to_string(dir.join("owner.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{owner}")).exists() {
            continue;
        }
        if let Some(master) = std::fs::read_to_string(dir.join("run").join("master.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        {
            // Only if that pid is still this instance's Dovecot.
            let cmdline = std::fs::read(format!("/proc/{master}/cmdline")).unwrap_or_default();
            let conf = dir.join("dovecot.conf");
            if String::from_utf8_lossy(&cmdline).contains(&*conf.to_string_lossy()) {
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(master.to_string())
                    .status();
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// (name, domain) of a user, lower-cased; the domain is empty without '@'.
fn split_user(user: &str) -> (String, String) {
    let user = user.to_lowercase();
    assert!(
        !user.is_empty()
            && user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._+-@".contains(c))
            && user.matches('@').count() <= 1
            && !user.starts_with('.'),
        "unsupported mailbox user name for the test Dovecot: {user:?}"
    );
    match user.split_once('@') {
        Some((n, d)) => (n.to_owned(), d.to_owned()),
        None => (user, String::new()),
    }
}

/// An IMAP quoted string (ASCII folder names, user names and passwords).
fn quote(s: &str) -> String {
    assert!(
        s.chars().all(|c| c.is_ascii() && !c.is_ascii_control()),
        "only printable ASCII is supported here: {s:?}"
    );
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A minimal IMAP client for what async-imap does not offer: APPEND that
/// reports the UID (APPENDUID), pipelined.
struct RawImap {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
    tag: u32,
}

impl RawImap {
    async fn login(port: u16, user: &str, password: &str) -> Result<RawImap, String> {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let (r, w) = stream.into_split();
        let mut c = RawImap {
            r: BufReader::new(r),
            w,
            tag: 0,
        };
        let greeting = c.line().await?;
        if !greeting.starts_with("* OK") {
            return Err(format!("greeting: {greeting}"));
        }
        let reply = c
            .command(&format!("LOGIN {} {}", quote(user), quote(password)))
            .await?;
        if reply.starts_with("OK") {
            Ok(c)
        } else {
            Err(format!("LOGIN: {reply}"))
        }
    }

    async fn line(&mut self) -> Result<String, String> {
        let mut buf = Vec::new();
        let n = self
            .r
            .read_until(b'\n', &mut buf)
            .await
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".to_owned());
        }
        Ok(String::from_utf8_lossy(&buf).trim_end().to_owned())
    }

    /// Sends a command (no literals) and returns the tagged reply without
    /// its tag, e.g. `OK [...] Create completed`.
    async fn command(&mut self, cmd: &str) -> Result<String, String> {
        self.tag += 1;
        let tag = format!("r{}", self.tag);
        self.w
            .write_all(format!("{tag} {cmd}\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let line = self.line().await?;
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                return Ok(rest.to_owned());
            }
        }
    }

    /// MULTIAPPEND (RFC 3502): up to `CHUNK` messages per APPEND command,
    /// one transaction each, with non-synchronising literals (LITERAL+), the
    /// commands written back to back while the replies are read
    /// concurrently. The UIDs come from APPENDUID (RFC 4315), in order.
    async fn append_multi(
        &mut self,
        folder: &str,
        items: &[(&[u8], bool)],
    ) -> Result<Vec<u32>, String> {
        const CHUNK: usize = 1000;
        const CHUNK_BYTES: usize = 8 << 20;
        let mut chunks: Vec<&[(&[u8], bool)]> = Vec::new();
        let mut rest = items;
        while !rest.is_empty() {
            let mut n = 0;
            let mut bytes = 0;
            while n < rest.len() && n < CHUNK && (n == 0 || bytes + rest[n].0.len() <= CHUNK_BYTES)
            {
                bytes += rest[n].0.len();
                n += 1;
            }
            let (chunk, tail) = rest.split_at(n);
            chunks.push(chunk);
            rest = tail;
        }
        let folder = quote(folder);
        let RawImap { r, w, .. } = self;
        let write = async {
            for (k, chunk) in chunks.iter().enumerate() {
                let mut buf = Vec::with_capacity(1 << 16);
                buf.extend_from_slice(format!("m{k} APPEND {folder}").as_bytes());
                for (raw, seen) in chunk.iter() {
                    let flags = if *seen { " (\\Seen)" } else { "" };
                    buf.extend_from_slice(format!("{flags} {{{}+}}\r\n", raw.len()).as_bytes());
                    buf.extend_from_slice(raw);
                }
                buf.extend_from_slice(b"\r\n");
                w.write_all(&buf).await.map_err(|e| e.to_string())?;
            }
            w.flush().await.map_err(|e| e.to_string())
        };
        let read = async {
            let mut uids: Vec<Vec<u32>> = vec![Vec::new(); chunks.len()];
            let mut done = 0;
            let mut buf = Vec::new();
            while done < chunks.len() {
                buf.clear();
                if r.read_until(b'\n', &mut buf)
                    .await
                    .map_err(|e| e.to_string())?
                    == 0
                {
                    return Err("connection closed during APPEND".to_owned());
                }
                let line = String::from_utf8_lossy(&buf);
                let line = line.trim_end();
                let Some(tagged) = line.strip_prefix('m') else {
                    continue; // untagged data
                };
                let (k, reply) = tagged.split_once(' ').ok_or_else(|| line.to_owned())?;
                let k: usize = k.parse().map_err(|_| line.to_owned())?;
                let set = reply
                    .strip_prefix("OK [APPENDUID ")
                    .and_then(|s| s.split(']').next())
                    .and_then(|s| s.split(' ').nth(1))
                    .ok_or_else(|| format!("messages of chunk {k}: {line}"))?;
                let got = uid_set(set).ok_or_else(|| format!("bad APPENDUID: {line}"))?;
                if got.len() != chunks[k].len() {
                    return Err(format!(
                        "{} UIDs for {} messages: {line}",
                        got.len(),
                        chunks[k].len()
                    ));
                }
                uids[k] = got;
                done += 1;
            }
            Ok(uids.concat())
        };
        let (written, uids) = tokio::join!(write, read);
        let uids = uids?;
        written?;
        Ok(uids)
    }
}

/// The UIDs of an IMAP uid-set such as `4` or `1:3,7`, in order.
fn uid_set(set: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in set.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if a <= b {
                    out.extend(a..=b);
                } else {
                    out.extend((b..=a).rev());
                }
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// One raw message of `tests/fixtures/mail/` with its manifest entry.
pub struct MailFixture {
    /// File name, e.g. `001-plain-text.eml`.
    pub file: String,
    /// The file's bytes, placeholders (`{{T1_TOKEN}}`…) not yet filled.
    pub raw: Vec<u8>,
    /// The manifest entry (`expect`, `ticket`, `client`, …).
    pub expect: serde_json::Value,
}

/// The placeholders fixtures may use; the test fills them with the values of
/// the tickets it seeds (see `tests/fixtures/mail/README.md`).
pub const PLACEHOLDERS: [&str; 6] = [
    "T1_ACK_MSGID",
    "T1_TOKEN",
    "T2_ACK_MSGID",
    "T2_TOKEN",
    "T3_TOKEN",
    "OTHER_TENANT_TOKEN",
];

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mail")
}

/// The manifest (`tests/fixtures/mail/manifest.json`).
pub fn mail_manifest() -> serde_json::Value {
    let path = fixtures_dir().join("manifest.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every fixture listed in the manifest, in manifest order, with its bytes.
pub fn mail_fixtures() -> Vec<MailFixture> {
    let manifest = mail_manifest();
    manifest["messages"]
        .as_array()
        .expect("manifest.json: \"messages\" is an array")
        .iter()
        .map(|entry| {
            let file = entry["file"]
                .as_str()
                .expect("manifest entry has a \"file\"")
                .to_owned();
            let path = fixtures_dir().join(&file);
            let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            MailFixture {
                file,
                raw,
                expect: entry.clone(),
            }
        })
        .collect()
}

/// The `{{NAME}}` placeholders in a raw message, in order of appearance.
pub fn placeholders(raw: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = raw;
    while let Some(start) = find(rest, b"{{") {
        let after = &rest[start + 2..];
        let Some(end) = find(after, b"}}") else { break };
        found.push(String::from_utf8_lossy(&after[..end]).into_owned());
        rest = &after[end + 2..];
    }
    found
}

/// Replaces the `{{NAME}}` placeholders of a raw message with `values`;
/// panics on a placeholder without a value.
pub fn fill(raw: &[u8], values: &HashMap<&str, String>) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 64);
    let mut rest = raw;
    while let Some(start) = find(rest, b"{{") {
        let after = &rest[start + 2..];
        let Some(end) = find(after, b"}}") else { break };
        let name = String::from_utf8_lossy(&after[..end]);
        let value = values
            .get(name.as_ref())
            .unwrap_or_else(|| panic!("no value for the placeholder {{{{{name}}}}}"));
        out.extend_from_slice(&rest[..start]);
        out.extend_from_slice(value.as_bytes());
        rest = &after[end + 2..];
    }
    out.extend_from_slice(rest);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
