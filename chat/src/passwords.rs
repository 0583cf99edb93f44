//! Room passwords: argon2id hashes in PHC format. Hashing is deliberately slow, so it runs as heavy work (off
//! the async workers, at a lower priority: see [`crate::heavy`]).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};

use crate::error::{ServerError, ServerResult};
use protocol::domain::RoomPassword;

/// Each argon2 run takes about 19 MiB and a core for a moment: at most this many run at once, whatever the
/// number of requests (the rest wait their turn, first come first served).
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Of those, new rooms' hashes may take one at a time: a flood of password-room creations waits here, and
/// always leaves a run free for people entering a room (whose checks would otherwise queue behind it).
static CREATING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

pub async fn hash(password: RoomPassword) -> ServerResult<String> {
    let _creating = CREATING.acquire().await.expect("the semaphore is never closed");
    let _permit = HASHING.acquire().await.expect("the semaphore is never closed");
    crate::heavy::run(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(password.expose().as_bytes(), &salt).map(|hash| hash.to_string())
    })
    .await?
    .map_err(ServerError::PasswordHash)
}

pub async fn verify(hash: String, password: String) -> ServerResult<bool> {
    let _permit = HASHING.acquire().await.expect("the semaphore is never closed");
    crate::heavy::run(move || {
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_new_password_rooms_does_not_hold_up_people_entering() {
        let hash = super::hash(RoomPassword::parse(Some("door")).unwrap().unwrap()).await.unwrap();
        let created = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let flood: Vec<_> = (0..8)
            .map(|_| {
                let created = created.clone();
                tokio::spawn(async move {
                    super::hash(RoomPassword::parse(Some("flood")).unwrap().unwrap()).await.unwrap();
                    created.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                })
            })
            .collect();
        // Let the eight queue up first.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert!(super::verify(hash, "door".into()).await.unwrap());
        // Sharing the two runs first come first served, the check would wait for (at least) seven of the eight
        // hashes; now it runs beside whichever is running.
        let done = created.load(std::sync::atomic::Ordering::SeqCst);
        assert!(done < 6, "the check waited for {done} new rooms' hashes");
        for task in flood {
            task.await.unwrap();
        }
    }
}
