//! Limits on every way of writing, so that one person, one network or a crowd of fresh identities cannot flood
//! the chat: sends, GIF uploads (how many, how many bytes, how many at once), room creation, new sessions, live
//! connections per address and commands per connection.
//!
//! Each rate is checked per person, per client address (several people may share one: a household, an office)
//! and against a total for the whole server. The rates are token buckets ([`governor`]): `20/10s` allows a burst
//! of 20, then one more every half second. Over a limit the request is refused with 429 and the wait
//! (`Retry-After`); the person is told in plain words what to wait for.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, QuantaInstant};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, InsufficientCapacity, NotUntil, RateLimiter};

use crate::metrics::Metrics;

mod settings;
use protocol::domain::PersonId;
use protocol::error::{AppError, Limit};
pub use settings::{LimitSettings, Rate, Rates, defaults};

/// The key of a client address: IPv6 users usually get a whole /64, so the /64 counts as one address (and an
/// IPv4 address written as IPv6 is the IPv4 address).
pub fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// The IPv6 networks above a client's /64 that get at most a share of a total: a /56 (a common home or office
/// delegation: 256 /64s, which would otherwise count as 256 addresses) at most a quarter, a /48 (a site) at most
/// half. So a network that holds many addresses cannot take the whole server's allowance from everyone else.
const NETWORK_SHARES: [(u8, u32); 2] = [(56, 4), (48, 2)];

/// The key of the IPv6 network of `prefix` bits that `address` is in (`None` for IPv4).
fn network_key(address: IpAddr, prefix: u8) -> Option<IpAddr> {
    match address_key(address) {
        IpAddr::V6(v6) => Some(IpAddr::V6((u128::from(v6) & (u128::MAX << (128 - u32::from(prefix)))).into())),
        IpAddr::V4(_) => None,
    }
}

/// `rate`'s share: `1/parts` of its burst (at least 1), refilled over the same period.
fn share(rate: Rate, parts: u32) -> Rate {
    Rate { burst: NonZeroU32::new(rate.burst.get() / parts).unwrap_or(NonZeroU32::MIN), period: rate.period }
}

/// How many addresses' worth an IPv6 /56 and a /48 get of a per-address rate that has no total: a network of
/// many addresses counts as a few, not as 256 or 65,536.
const NETWORK_MULTIPLES: [(u8, u32); 2] = [(56, 4), (48, 8)];

/// A rate per client address (an IPv6 /64), and for the IPv6 networks above it a few times that
/// ([`NETWORK_MULTIPLES`]).
struct PerNetwork {
    rate: Rate,
    address: DefaultKeyedRateLimiter<IpAddr>,
    networks: [(DefaultKeyedRateLimiter<IpAddr>, Rate); 2],
}

impl PerNetwork {
    fn new(rate: Rate) -> PerNetwork {
        PerNetwork {
            rate,
            address: RateLimiter::keyed(rate.quota()),
            networks: NETWORK_MULTIPLES.map(|(_, times)| {
                let burst = NonZeroU32::new(rate.burst.get().saturating_mul(times)).unwrap_or(rate.burst);
                let rate = Rate { burst, period: rate.period };
                (RateLimiter::keyed(rate.quota()), rate)
            }),
        }
    }

    /// The wait `address` is asked for, `None` if it may go on.
    fn check(&self, address: IpAddr) -> Option<Duration> {
        if let Some(wait) = waited(Ok(self.address.check_key(&address_key(address))), self.rate) {
            return Some(wait);
        }
        self.networks.iter().zip(NETWORK_MULTIPLES).find_map(|((bucket, rate), (prefix, _))| {
            waited(Ok(bucket.check_key(&network_key(address, prefix)?)), *rate)
        })
    }

    fn forget_idle(&self) {
        for bucket in std::iter::once(&self.address).chain(self.networks.iter().map(|(bucket, _)| bucket)) {
            bucket.retain_recent();
            bucket.shrink_to_fit();
        }
    }

    fn len(&self) -> usize {
        self.address.len() + self.networks.iter().map(|(bucket, _)| bucket.len()).sum::<usize>()
    }
}

/// One action's buckets.
struct Buckets {
    rates: Rates,
    person: DefaultKeyedRateLimiter<PersonId>,
    address: DefaultKeyedRateLimiter<IpAddr>,
    /// Per IPv6 network above the /64, in the order of [`NETWORK_SHARES`], with their rates.
    networks: [(DefaultKeyedRateLimiter<IpAddr>, Rate); 2],
    total: DefaultDirectRateLimiter,
    /// What the person is told they are doing too fast.
    limit: Limit,
}

/// What a bucket answers a check of several tokens.
type Outcome = Result<Result<(), NotUntil<QuantaInstant>>, InsufficientCapacity>;

impl Buckets {
    fn new(rates: Rates, limit: Limit) -> Buckets {
        Buckets {
            rates,
            person: RateLimiter::keyed(rates.person.quota()),
            address: RateLimiter::keyed(rates.address.quota()),
            networks: NETWORK_SHARES.map(|(_, parts)| {
                let rate = share(rates.total, parts);
                (RateLimiter::keyed(rate.quota()), rate)
            }),
            total: RateLimiter::direct(rates.total.quota()),
            limit,
        }
    }

    /// Takes `cost` tokens from the person's, the address's and the server's bucket, or says how long to wait.
    fn take(&self, person: &PersonId, address: Option<IpAddr>, cost: NonZeroU32) -> Result<(), AppError> {
        throttled(waited(self.person.check_key_n(person, cost), self.rates.person), self.limit)?;
        if let Some(address) = address {
            let outcome = self.address.check_key_n(&address_key(address), cost);
            throttled(waited(outcome, self.rates.address), self.limit)?;
            for ((bucket, rate), (prefix, _)) in self.networks.iter().zip(NETWORK_SHARES) {
                if let Some(network) = network_key(address, prefix) {
                    throttled(waited(bucket.check_key_n(&network, cost), *rate), self.limit)?;
                }
            }
        }
        // The whole server is busy: not this person's doing, and they are told so.
        throttled(waited(self.total.check_n(cost), self.rates.total), Limit::Busy)
    }

    fn forget_idle(&self) {
        self.person.retain_recent();
        self.person.shrink_to_fit();
        self.address.retain_recent();
        self.address.shrink_to_fit();
        for (bucket, _) in &self.networks {
            bucket.retain_recent();
            bucket.shrink_to_fit();
        }
    }

    fn keys(&self) -> usize {
        self.person.len() + self.address.len() + self.networks.iter().map(|(bucket, _)| bucket.len()).sum::<usize>()
    }
}

/// The wait a check asks for, `None` if it passed. A cost bigger than the whole bucket can never pass at once:
/// it waits the bucket's period (and is refused again then; such a limit is a configuration mistake).
fn waited(outcome: Outcome, rate: Rate) -> Option<Duration> {
    match outcome {
        Ok(Ok(())) => None,
        Ok(Err(not_until)) => Some(not_until.wait_time_from(DefaultClock::default().now())),
        Err(_) => Some(rate.period),
    }
}

fn throttled(wait: Option<Duration>, limit: Limit) -> Result<(), AppError> {
    match wait {
        None => Ok(()),
        // Rounded up: waiting the announced time is always enough.
        Some(wait) => Err(AppError::TooManyRequests { limit, retry_after: wait.as_secs() + 1 }),
    }
}

/// Counts of things held open (uploads in flight, connections), released by their guard.
struct Open<K: std::hash::Hash + Eq + Clone> {
    counts: Arc<Mutex<HashMap<K, u32>>>,
    max: u32,
}

impl<K: std::hash::Hash + Eq + Clone> Open<K> {
    fn new(max: u32) -> Open<K> {
        Open { counts: Arc::default(), max }
    }

    fn open(&self, key: K) -> Option<Held<K>> {
        let mut counts = self.counts.lock().expect("open counts");
        let count = counts.entry(key.clone()).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Held { counts: self.counts.clone(), key })
    }

    fn len(&self) -> usize {
        self.counts.lock().expect("open counts").len()
    }
}

/// One upload in flight or one open connection; dropping it releases its place. Keys with nothing open are
/// removed, so the map follows what is open right now.
pub struct Held<K: std::hash::Hash + Eq + Clone> {
    counts: Arc<Mutex<HashMap<K, u32>>>,
    key: K,
}

impl<K: std::hash::Hash + Eq + Clone> Drop for Held<K> {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().expect("open counts");
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// What an admitted upload holds until it is done.
pub struct UploadPermit {
    _held: Held<PersonId>,
}

/// What an open live connection holds until it closes.
pub struct ConnectionPermit {
    _held: Held<IpAddr>,
}

/// A refusal by a rate limit being held before it is answered (see [`LimitSettings::refusal_delay`]); its place
/// among the held ones is given back when it drops.
pub struct HeldRefusal {
    pub delay: Duration,
    _address: Held<IpAddr>,
    _total: Held<()>,
}

/// All the limits of one server.
pub struct Limits {
    enabled: bool,
    sends: Buckets,
    reactions: Buckets,
    edits: Buckets,
    shares: Buckets,
    invitations: Buckets,
    deletions: Buckets,
    typing: Buckets,
    uploads: Buckets,
    upload_mib: Buckets,
    rooms: Buckets,
    arrivals: Buckets,
    new_sessions: PerNetwork,
    uploads_in_flight: Open<PersonId>,
    connections: Open<IpAddr>,
    http_connections: Open<IpAddr>,
    commands: Rate,
    address_writes: PerNetwork,
    refusal_delay: Duration,
    held_refusals: Open<IpAddr>,
    held_refusals_total: Open<()>,
    /// Where refusals are counted.
    metrics: Arc<Metrics>,
}

impl Limits {
    pub fn new(settings: &LimitSettings, metrics: Arc<Metrics>) -> Limits {
        Limits {
            metrics,
            enabled: settings.enabled,
            sends: Buckets::new(settings.sends, Limit::Sending),
            reactions: Buckets::new(settings.reactions, Limit::Reacting),
            edits: Buckets::new(settings.edits, Limit::Editing),
            shares: Buckets::new(settings.shares, Limit::Sharing),
            invitations: Buckets::new(settings.invitations, Limit::Inviting),
            deletions: Buckets::new(settings.deletions, Limit::Deleting),
            typing: Buckets::new(settings.typing, Limit::Typing),
            uploads: Buckets::new(settings.uploads, Limit::Uploading),
            upload_mib: Buckets::new(settings.upload_mib, Limit::Uploading),
            rooms: Buckets::new(settings.rooms, Limit::CreatingRooms),
            arrivals: Buckets::new(settings.arrivals, Limit::Arrivals),
            new_sessions: PerNetwork::new(settings.new_sessions),
            uploads_in_flight: Open::new(settings.uploads_at_once),
            connections: Open::new(settings.connections),
            http_connections: Open::new(settings.http_connections),
            commands: settings.commands,
            address_writes: PerNetwork::new(settings.address_writes),
            refusal_delay: settings.refusal_delay,
            held_refusals: Open::new(defaults::HELD_REFUSALS_PER_ADDRESS),
            held_refusals_total: Open::new(defaults::HELD_REFUSALS),
        }
    }

    /// One message sent.
    pub fn send(&self, person: &PersonId, address: Option<IpAddr>) -> Result<(), AppError> {
        self.counted(self.check(&self.sends, person, address, 1))
    }

    /// One reaction given or taken back.
    pub fn react(&self, person: &PersonId, address: Option<IpAddr>) -> Result<(), AppError> {
        self.counted(self.check(&self.reactions, person, address, 1))
    }

    /// One message's text changed.
    pub fn edit(&self, person: &PersonId, address: Option<IpAddr>) -> Result<(), AppError> {
        self.counted(self.check(&self.edits, person, address, 1))
    }

    /// One invitation to a private conversation.
    pub fn invite(&self, person: &PersonId, address: Option<IpAddr>) -> Result<(), AppError> {
        self.counted(self.check(&self.invitations, person, address, 1))
    }

    /// One GIF shared to the library.
    pub fn share(&self, person: &PersonId, address: Option<IpAddr>) -> Result<(), AppError> {
        self.counted(self.check(&self.shares, person, address, 1))
    }

    /// One message unsent, or removed by the room's owner.
    pub fn delete(&self, person: &PersonId, address: Option<IpAddr>) -> Result<(), AppError> {
        self.counted(self.check(&self.deletions, person, address, 1))
    }

    /// One "is typing" signal.
    pub fn typing(&self, person: &PersonId, address: Option<IpAddr>) -> Result<(), AppError> {
        self.counted(self.check(&self.typing, person, address, 1))
    }

    /// One room created.
    pub fn create_room(&self, person: &PersonId, address: Option<IpAddr>) -> Result<(), AppError> {
        self.counted(self.check(&self.rooms, person, address, 1))
    }

    /// One arrival in a room where the person was not (it is announced to everyone there).
    pub fn arrive(&self, person: &PersonId, address: Option<IpAddr>) -> Result<(), AppError> {
        self.counted(self.check(&self.arrivals, person, address, 1))
    }

    /// One upload of (at most) `bytes`: counted, charged its size, and held in flight until the permit drops.
    pub fn upload(
        &self,
        person: &PersonId,
        address: Option<IpAddr>,
        bytes: u64,
    ) -> Result<Option<UploadPermit>, AppError> {
        if !self.enabled {
            return Ok(None);
        }
        let held = self.uploads_in_flight.open(person.clone());
        let held =
            self.counted(held.ok_or(AppError::TooManyRequests { limit: Limit::UploadsAtOnce, retry_after: 1 }))?;
        self.counted(self.check(&self.uploads, person, address, 1))?;
        let mib = u32::try_from(bytes.div_ceil(1024 * 1024)).unwrap_or(u32::MAX).max(1);
        self.counted(self.check(&self.upload_mib, person, address, mib))?;
        Ok(Some(UploadPermit { _held: held }))
    }

    /// A new session for someone at `address` (their first action).
    pub fn new_session(&self, address: Option<IpAddr>) -> Result<(), AppError> {
        let Some(address) = address.filter(|_| self.enabled) else { return Ok(()) };
        self.counted(throttled(self.new_sessions.check(address), Limit::NewVisitors))
    }

    /// One writing request from `address`, of any kind (the front door's check).
    pub fn write_request(&self, address: Option<IpAddr>) -> Result<(), AppError> {
        let Some(address) = address.filter(|_| self.enabled) else { return Ok(()) };
        self.counted(throttled(self.address_writes.check(address), Limit::Requests))
    }

    /// How long to hold a rate limit's refusal of a request from `address`: `None` to answer at once (no delay is
    /// configured, or as many refusals as allowed are already held, for this address or in all).
    pub fn hold_refusal(&self, address: IpAddr) -> Option<HeldRefusal> {
        if self.refusal_delay.is_zero() {
            return None;
        }
        let address = self.held_refusals.open(address_key(address))?;
        let total = self.held_refusals_total.open(())?;
        Some(HeldRefusal { delay: self.refusal_delay, _address: address, _total: total })
    }

    /// Waits [`Limits::hold_refusal`]'s delay before a refusal of `address` is answered (at once when none is
    /// held: no delay configured, or as many held as allowed).
    pub async fn hold_before_refusing(&self, address: Option<IpAddr>) {
        if let Some(held) = address.and_then(|address| self.hold_refusal(address)) {
            tokio::time::sleep(held.delay).await;
        }
    }

    /// A live connection from `address`, held open until the permit drops.
    pub fn connect(&self, address: Option<IpAddr>) -> Result<Option<ConnectionPermit>, AppError> {
        let Some(address) = address.filter(|_| self.enabled) else { return Ok(None) };
        let held = self.connections.open(address_key(address));
        let held =
            self.counted(held.ok_or(AppError::TooManyRequests { limit: Limit::Connections, retry_after: 10 }))?;
        Ok(Some(ConnectionPermit { _held: held }))
    }

    /// An HTTP connection from `address` (of any kind: pages, uploads, the live channel's), held open until the
    /// permit drops.
    pub fn open_connection(&self, address: IpAddr) -> Result<Option<ConnectionPermit>, AppError> {
        if !self.enabled {
            return Ok(None);
        }
        let held = self.http_connections.open(address_key(address));
        let held =
            self.counted(held.ok_or(AppError::TooManyRequests { limit: Limit::Connections, retry_after: 10 }))?;
        Ok(Some(ConnectionPermit { _held: held }))
    }

    /// Counts `outcome` in the metrics if it is a refusal, and passes it on.
    fn counted<T>(&self, outcome: Result<T, AppError>) -> Result<T, AppError> {
        self.metrics.count_refusal(&outcome);
        outcome
    }

    /// A bucket for one connection's commands (`None` when limits are off).
    pub fn commands(&self) -> Option<DefaultDirectRateLimiter> {
        self.enabled.then(|| RateLimiter::direct(self.commands.quota()))
    }

    fn check(&self, buckets: &Buckets, person: &PersonId, address: Option<IpAddr>, cost: u32) -> Result<(), AppError> {
        if !self.enabled {
            return Ok(());
        }
        buckets.take(person, address, NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN))
    }

    /// Forgets people and addresses whose buckets are full again (call now and then: memory follows activity).
    pub fn forget_idle(&self) {
        for buckets in [&self.sends, &self.uploads, &self.upload_mib, &self.rooms, &self.arrivals] {
            buckets.forget_idle();
        }
        for limiter in [&self.new_sessions, &self.address_writes] {
            limiter.forget_idle();
        }
    }

    /// How many people and addresses the limits remember (for the memory test and metrics).
    pub fn remembered(&self) -> usize {
        [&self.sends, &self.uploads, &self.upload_mib, &self.rooms, &self.arrivals]
            .iter()
            .map(|b| b.keys())
            .sum::<usize>()
            + self.new_sessions.len()
            + self.address_writes.len()
            + self.uploads_in_flight.len()
            + self.connections.len()
            + self.http_connections.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_count_by_their_64_bit_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap();
        assert_eq!(address_key(mapped), "10.0.0.7".parse::<IpAddr>().unwrap());

        let settings = LimitSettings { sends: "100/1m,3/1m,1000/1s".parse().unwrap(), ..LimitSettings::default() };
        let limits = Limits::new(&settings, Default::default());
        let person = |n: u32| PersonId::trusted(format!("p{n}"));
        let allowed = (0..6).filter(|n| limits.send(&person(*n), Some(if n % 2 == 0 { a } else { b })).is_ok()).count();
        assert_eq!(allowed, 3, "one /64 is one address");
        assert!(limits.send(&person(9), Some(other)).is_ok(), "the next /64 is another");
    }

    #[test]
    fn reactions_edits_deletions_and_typing_each_have_their_own_limit_and_message() {
        let limits = Limits::new(&LimitSettings::default(), Default::default());
        let (person, address) = (PersonId::trusted("busy"), Some(IpAddr::from([192, 0, 2, 7])));
        type Check = fn(&Limits, &PersonId, Option<IpAddr>) -> Result<(), AppError>;
        let each: [(Check, Limit, usize, &str); 4] = [
            (Limits::react, Limit::Reacting, 30, "You are reacting too fast."),
            (Limits::edit, Limit::Editing, 10, "You are editing too fast."),
            (Limits::delete, Limit::Deleting, 20, "You are deleting too fast."),
            (Limits::typing, Limit::Typing, 3, "Your page says you are typing too often."),
        ];
        for (check, limit, burst, sentence) in each {
            let allowed = (0..burst + 5).take_while(|_| check(&limits, &person, address).is_ok()).count();
            assert_eq!(allowed, burst, "{limit:?}");
            match check(&limits, &person, address) {
                Err(error @ AppError::TooManyRequests { limit: refused, .. }) => {
                    assert_eq!(refused, limit);
                    assert!(error.to_string().starts_with(sentence), "{error}");
                }
                other => panic!("{limit:?}: {other:?}"),
            }
        }
        // Each its own: the sends of the same person are untouched.
        assert!(limits.send(&person, address).is_ok());
    }

    #[test]
    fn a_network_of_many_64s_gets_a_share_of_the_total_not_all_of_it() {
        // A total of 40 a minute; everything else generous.
        let settings = LimitSettings { sends: "1000/1s,1000/1s,40/1m".parse().unwrap(), ..LimitSettings::default() };
        let limits = Limits::new(&settings, Default::default());
        // 256 /64s of one /56, each a fresh identity: a quarter of the total, then they are told to slow down
        // (it is their network's doing, not a busy server).
        let in_56 = |n: u128| IpAddr::from(std::net::Ipv6Addr::from((0x2001_0db8_0000_1200u128 + n) << 64 | 1));
        let sent: Vec<_> = (0..256).map(|n| limits.send(&PersonId::trusted(format!("p{n}")), Some(in_56(n)))).collect();
        assert_eq!(sent.iter().filter(|outcome| outcome.is_ok()).count(), 10);
        assert!(matches!(sent.last(), Some(Err(AppError::TooManyRequests { limit: Limit::Sending, .. }))));
        // Someone in another /56 (of the same /48, which has half) and someone on IPv4 still send.
        let next_56 = IpAddr::from(std::net::Ipv6Addr::from((0x2001_0db8_0000_1300u128 << 64) | 1));
        assert!(limits.send(&PersonId::trusted("neighbour"), Some(next_56)).is_ok());
        assert!(limits.send(&PersonId::trusted("elsewhere"), Some(IpAddr::from([192, 0, 2, 1]))).is_ok());
    }

    #[test]
    fn a_network_of_many_64s_makes_new_identities_as_a_few_addresses_do() {
        let settings = LimitSettings { new_sessions: "10/1h".parse().unwrap(), ..LimitSettings::default() };
        let limits = Limits::new(&settings, Default::default());
        let in_56 = |n: u128| IpAddr::from(std::net::Ipv6Addr::from((0x2001_0db8_0000_1200u128 + n) << 64 | 1));
        let made = (0..256).filter(|n| limits.new_session(Some(in_56(*n))).is_ok()).count();
        assert_eq!(made, 40, "four addresses' worth for one /56");
        assert!(limits.new_session(Some(IpAddr::from([192, 0, 2, 1]))).is_ok(), "others are not affected");
    }

    #[test]
    fn a_normal_burst_passes_then_the_person_is_told_how_long_to_wait() {
        let limits = Limits::new(&LimitSettings::default(), Default::default());
        let alice = PersonId::trusted("alice");
        let home = Some(IpAddr::from([10, 0, 0, 1]));
        for _ in 0..20 {
            limits.send(&alice, home).expect("a burst of 20 messages is normal");
        }
        let Err(AppError::TooManyRequests { limit, retry_after }) = limits.send(&alice, home) else {
            panic!("the 21st quick message passed")
        };
        assert_eq!((limit, retry_after), (Limit::Sending, 1));
        assert!(limits.send(&PersonId::trusted("bob"), home).is_ok(), "others at the same address still may");
    }

    #[test]
    fn uploads_are_limited_in_count_bytes_and_at_once() {
        let limits = Limits::new(&LimitSettings::default(), Default::default());
        let alice = PersonId::trusted("alice");
        let home = Some(IpAddr::from([10, 0, 0, 1]));
        let first = limits.upload(&alice, home, 1000).unwrap();
        let second = limits.upload(&alice, home, 1000).unwrap();
        let Err(AppError::TooManyRequests { limit: Limit::UploadsAtOnce, .. }) = limits.upload(&alice, home, 1000)
        else {
            panic!("a third upload at once passed")
        };
        drop((first, second));
        // 60 MiB per 10 minutes: six 10 MiB uploads, then a wait.
        let bob = PersonId::trusted("bob");
        for _ in 0..6 {
            drop(limits.upload(&bob, home, 10 * 1024 * 1024).unwrap());
        }
        assert!(limits.upload(&bob, home, 10 * 1024 * 1024).is_err());
        assert_eq!(limits.uploads_in_flight.len(), 0, "finished uploads leave nothing behind");
    }

    #[test]
    fn connections_per_address_are_held_until_closed() {
        let settings = LimitSettings { connections: 2, ..LimitSettings::default() };
        let limits = Limits::new(&settings, Default::default());
        let home = Some(IpAddr::from([10, 0, 0, 1]));
        let a = limits.connect(home).unwrap();
        let _b = limits.connect(home).unwrap();
        assert!(limits.connect(home).is_err());
        assert!(limits.connect(Some(IpAddr::from([10, 0, 0, 2]))).is_ok());
        drop(a);
        assert!(limits.connect(home).is_ok());
    }

    #[test]
    fn switched_off_nothing_is_limited() {
        let settings =
            LimitSettings { enabled: false, sends: "1/1h,1/1h,1/1h".parse().unwrap(), ..LimitSettings::default() };
        let limits = Limits::new(&settings, Default::default());
        for _ in 0..10 {
            assert!(limits.send(&PersonId::trusted("bot"), None).is_ok());
        }
        assert!(limits.commands().is_none());
    }
}
