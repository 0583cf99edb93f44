//! Certificates for the tests of TLS to the broker and to PostgreSQL: a certificate authority of the test's own
//! and what it signed, as PEM files in a temp dir (deleted when dropped).

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;

pub struct TestCerts {
    dir: TempDir,
}

impl TestCerts {
    /// A new CA; a server certificate it signed for `127.0.0.1` and `localhost`; a client certificate.
    pub fn new() -> TestCerts {
        let dir = tempfile::tempdir().expect("creating a temp dir");
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        // A name of its own (the temp dir's), so another test CA is not even a candidate issuer.
        let name = format!("gif-chat test CA {}", dir.path().file_name().unwrap().to_string_lossy());
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();

        let sign = |name: &str, subject_alt_names: &[&str], usage: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().unwrap();
            let names: Vec<String> = subject_alt_names.iter().map(|name| name.to_string()).collect();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![usage];
            let certificate = params.signed_by(&key, &*ca).unwrap();
            std::fs::write(dir.path().join(format!("{name}.pem")), certificate.pem()).unwrap();
            std::fs::write(dir.path().join(format!("{name}.key")), key.serialize_pem()).unwrap();
        };
        sign("server", &["127.0.0.1", "localhost"], ExtendedKeyUsagePurpose::ServerAuth);
        sign("client", &[], ExtendedKeyUsagePurpose::ClientAuth);
        TestCerts { dir }
    }

    /// The CA's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server's certificate and key.
    pub fn server(&self) -> (PathBuf, PathBuf) {
        (self.dir.path().join("server.pem"), self.dir.path().join("server.key"))
    }

    /// The client's certificate and key.
    pub fn client(&self) -> (PathBuf, PathBuf) {
        (self.dir.path().join("client.pem"), self.dir.path().join("client.key"))
    }
}
