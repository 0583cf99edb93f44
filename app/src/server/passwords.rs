//! Room passwords: argon2id hashes in PHC format. Hashing is deliberately slow, so it runs on the blocking pool.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};

use crate::domain::RoomPassword;
use crate::server::error::{ServerError, ServerResult};

/// Each argon2 run takes about 19 MiB and a core for a moment: at most this many run at once, whatever the
/// number of requests (the rest wait their turn).
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

pub async fn hash(password: RoomPassword) -> ServerResult<String> {
    let _permit = HASHING.acquire().await.expect("the semaphore is never closed");
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(password.expose().as_bytes(), &salt).map(|hash| hash.to_string())
    })
    .await?
    .map_err(ServerError::PasswordHash)
}

pub async fn verify(hash: String, password: String) -> ServerResult<bool> {
    let _permit = HASHING.acquire().await.expect("the semaphore is never closed");
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(ServerError::PasswordHash)?;
        Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only_and_hides_it() {
        let password = RoomPassword::parse(Some("open sesame")).unwrap().unwrap();
        let hash = super::hash(password).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains("open sesame"));
        assert!(super::verify(hash.clone(), "open sesame".into()).await.unwrap());
        assert!(!super::verify(hash, "open sesame ".into()).await.unwrap());
    }
}
