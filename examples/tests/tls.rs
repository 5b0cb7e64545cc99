//! `--tls-cert` and `--tls-key` on the example binaries: both or neither (one alone exits
//! with 2 naming the other); without the `tls` feature they exit with 2 saying the binary
//! was built without TLS; with it, a bad file exits with 2 naming it, and good files serve
//! TLS and print an `https://` (or `tls://`) listening line. Runs under whatever features
//! the test build has.

mod common;

use common::run;

const HTTP: &str = env!("CARGO_BIN_EXE_http");
const ECHO: &str = env!("CARGO_BIN_EXE_echo");
const RESP: &str = env!("CARGO_BIN_EXE_resp");

fn refused(bin: &str, args: &[&str]) -> String {
    let output = run(bin, args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{bin} {args:?}: {output:?}");
    assert!(output.stdout.is_empty(), "{bin} {args:?}: {output:?}");
    stderr
}

#[test]
fn one_tls_flag_alone_exits_2_naming_the_other() {
    for bin in [HTTP, ECHO, RESP] {
        let stderr = refused(bin, &["--tls-cert", "cert.pem"]);
        assert!(stderr.contains("--tls-key"), "{bin}: {stderr}");
        let stderr = refused(bin, &["--tls-key", "key.pem"]);
        assert!(stderr.contains("--tls-cert"), "{bin}: {stderr}");
    }
}

#[cfg(not(feature = "tls"))]
#[test]
fn without_the_tls_feature_the_flags_say_so() {
    for bin in [HTTP, ECHO, RESP] {
        let stderr = refused(bin, &["--tls-cert", "cert.pem", "--tls-key", "key.pem"]);
        assert!(stderr.contains("built without TLS"), "{bin}: {stderr}");
        assert!(stderr.contains("--features tls"), "{bin}: {stderr}");
    }
}

#[cfg(feature = "tls")]
mod with_tls {
    use std::path::PathBuf;

    use super::*;

    /// A self-signed certificate and its key in a directory of their own (removed on drop).
    struct Files(PathBuf);

    impl Files {
        fn new(name: &str) -> Files {
            let dir =
                std::env::temp_dir().join(format!("examples-tls-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
            std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
            std::fs::write(dir.join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
            Files(dir)
        }
        fn path(&self, name: &str) -> String {
            self.0.join(name).to_string_lossy().into_owned()
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_bad_file_exits_2_naming_it() {
        let files = Files::new("bad");
        let missing = files.path("missing.pem");
        let stderr = refused(
            HTTP,
            &["--tls-cert", &missing, "--tls-key", &files.path("key.pem")],
        );
        assert!(stderr.contains("missing.pem"), "{stderr}");
        // The certificate where the key should be.
        let cert = files.path("cert.pem");
        let stderr = refused(HTTP, &["--tls-cert", &cert, "--tls-key", &cert]);
        assert!(stderr.contains("private key"), "{stderr}");
    }

    /// On both servers (`net`, and evnet with the `evented` feature).
    #[test]
    fn good_files_serve_tls_with_an_https_line() {
        let files = Files::new("good");
        let (cert, key) = (files.path("cert.pem"), files.path("key.pem"));
        for (bin, scheme) in [(HTTP, "https://"), (ECHO, "tls://"), (RESP, "rediss://")] {
            let server = common::Running::start(bin, &["--tls-cert", &cert, "--tls-key", &key]);
            assert!(
                server
                    .first_line
                    .starts_with(&format!("listening on {scheme}127.0.0.1:")),
                "{bin}: {}",
                server.first_line
            );
            server.signal("TERM");
            let (status, _) = server.wait();
            assert!(status.success(), "{bin}: {status:?}");
        }
    }
}
