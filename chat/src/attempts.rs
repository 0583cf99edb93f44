//! Limits on password attempts, per person and per client address, so a room's password cannot be guessed by
//! brute force. Every attempt counts, right or wrong: a guesser learns nothing from which ones are refused.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use protocol::domain::PersonId;

pub struct PasswordAttempts {
    by_person: DefaultKeyedRateLimiter<PersonId>,
    by_address: DefaultKeyedRateLimiter<IpAddr>,
}

/// 5 attempts at once, then one more every 12 s, per person.
const PER_PERSON_PER_MINUTE: u32 = 5;
/// Several people may share an address (a household, an office): 20 at once, then one every 3 s.
const PER_ADDRESS_PER_MINUTE: u32 = 20;

impl Default for PasswordAttempts {
    fn default() -> PasswordAttempts {
        let quota = |per_minute| Quota::per_minute(NonZeroU32::new(per_minute).expect("a positive quota"));
        PasswordAttempts {
            by_person: RateLimiter::keyed(quota(PER_PERSON_PER_MINUTE)),
            by_address: RateLimiter::keyed(quota(PER_ADDRESS_PER_MINUTE)),
        }
    }
}

impl PasswordAttempts {
    /// Counts one attempt. `Err` holds how long until the next attempt is allowed.
    pub fn check(&self, person: &PersonId, address: Option<IpAddr>) -> Result<(), Duration> {
        let now = DefaultClock::default().now();
        self.by_person.check_key(person).map_err(|wait| wait.wait_time_from(now))?;
        if let Some(address) = address {
            // One IPv6 /64 is one address (see `limits::address_key`): a host has billions of them.
            let key = crate::limits::address_key(address);
            self.by_address.check_key(&key).map_err(|wait| wait.wait_time_from(now))?;
        }
        Ok(())
    }

    /// Forgets keys whose limits have fully recovered (call now and then, so memory follows activity).
    pub fn forget_idle(&self) {
        self.by_person.retain_recent();
        self.by_person.shrink_to_fit();
        self.by_address.retain_recent();
        self.by_address.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_gets_five_quick_attempts_then_must_wait() {
        let attempts = PasswordAttempts::default();
        let address = Some(IpAddr::from([127, 0, 0, 1]));
        for _ in 0..5 {
            assert!(attempts.check(&PersonId::trusted("alice"), address).is_ok());
        }
        let wait = attempts.check(&PersonId::trusted("alice"), address).unwrap_err();
        assert!(wait > Duration::from_secs(5) && wait <= Duration::from_secs(12), "{wait:?}");
        assert!(attempts.check(&PersonId::trusted("bob"), address).is_ok(), "others on the same address may try");
    }

    #[test]
    fn one_address_cannot_try_endlessly_under_new_identities() {
        let attempts = PasswordAttempts::default();
        let address = Some(IpAddr::from([10, 0, 0, 7]));
        let allowed =
            (0..40).filter(|n| attempts.check(&PersonId::trusted(format!("visitor{n}")), address).is_ok()).count();
        assert_eq!(allowed, 20);
        // Nor by changing the last 64 bits of its IPv6 address.
        let allowed = (0..40u128)
            .filter(|n| {
                let address = IpAddr::from(std::net::Ipv6Addr::from(0x2001_0db8_0000_0001_0000_0000_0000_0000 + n));
                attempts.check(&PersonId::trusted(format!("v6visitor{n}")), Some(address)).is_ok()
            })
            .count();
        assert_eq!(allowed, 20, "one /64 is one address");
    }
}
