//! How the limits are written and set: a rate is a token bucket written `20/10s` (a burst of 20, refilled evenly
//! over 10 s), and each way of writing has three (per person, per client address, in total), written
//! `20/10s,60/10s,2000/10s`. The command line reads them with these parsers (`gif-chat --help` shows the defaults).

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use governor::Quota;

/// A token bucket: `burst` at once, refilled evenly over `period` (written `20/10s`, `5/10m`, `100/1h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub burst: NonZeroU32,
    pub period: Duration,
}

impl Rate {
    pub(super) fn quota(self) -> Quota {
        let every = (self.period / self.burst.get()).max(Duration::from_nanos(1));
        Quota::with_period(every).expect("a positive period").allow_burst(self.burst)
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(raw: &str) -> Result<Rate, String> {
        let wrong = || format!("{raw:?}: expected a count and a period, such as 20/10s, 5/10m or 100/1h");
        let (count, period) = raw.trim().split_once('/').ok_or_else(wrong)?;
        let burst = count.trim().parse::<NonZeroU32>().map_err(|_| wrong())?;
        let period = period.trim();
        let unit = match period.chars().last() {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            _ => return Err(wrong()),
        };
        let amount = period[..period.len() - 1].parse::<u64>().map_err(|_| wrong())?;
        if amount == 0 {
            return Err(wrong());
        }
        Ok(Rate { burst, period: Duration::from_secs(amount * unit) })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.period.as_secs();
        match secs {
            _ if secs.is_multiple_of(3600) => write!(f, "{}/{}h", self.burst, secs / 3600),
            _ if secs.is_multiple_of(60) => write!(f, "{}/{}m", self.burst, secs / 60),
            _ => write!(f, "{}/{}s", self.burst, secs),
        }
    }
}

/// One action's rates: per person, per client address, and for the whole server. Written
/// `PERSON,ADDRESS,TOTAL`, e.g. `20/10s,100/10s,1000/1s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    pub person: Rate,
    pub address: Rate,
    pub total: Rate,
}

impl FromStr for Rates {
    type Err = String;

    fn from_str(raw: &str) -> Result<Rates, String> {
        let parts: Vec<&str> = raw.split(',').collect();
        let [person, address, total] = parts[..] else {
            return Err(format!(
                "{raw:?}: expected three rates, per person, per address and in total: 20/10s,100/10s,1000/1s"
            ));
        };
        Ok(Rates { person: person.parse()?, address: address.parse()?, total: total.parse()? })
    }
}

impl fmt::Display for Rates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{}", self.person, self.address, self.total)
    }
}

/// Every limit's setting (the command line's `--limit-*` flags; defaults in [`defaults`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSettings {
    /// Off: nothing is limited (for benchmarks that play thousands of people from one address).
    pub enabled: bool,
    pub sends: Rates,
    /// Reactions given or taken back.
    pub reactions: Rates,
    /// Messages' texts changed.
    pub edits: Rates,
    /// Messages unsent, or removed by rooms' owners.
    pub deletions: Rates,
    /// "Is typing" signals (a page sends one at most every 2 s while its person types).
    pub typing: Rates,
    pub uploads: Rates,
    /// Upload bytes, counted in MiB (a request is charged its declared size, or the largest allowed).
    pub upload_mib: Rates,
    /// Uploads one person may have in flight.
    pub uploads_at_once: u32,
    pub rooms: Rates,
    /// GIFs shared to the library.
    pub shares: Rates,
    /// Invitations to private conversations.
    pub invitations: Rates,
    /// Arrivals in rooms (each is announced to the room): per person, per address, in total.
    pub arrivals: Rates,
    /// Sessions created per client address (the first action of each new identity).
    pub new_sessions: Rate,
    /// Live connections open at once per client address.
    pub connections: u32,
    /// HTTP connections of any kind (each live connection is one too) open at once per client address; a
    /// trusted proxy's are not counted.
    pub http_connections: u32,
    /// Commands (`join`, `subscribeLobby`, `ping`) per live connection.
    pub commands: Rate,
    /// Writing requests of any kind (POSTs, websocket handshakes) per client address: checked before the
    /// session is even loaded, so a flood is turned away at the door for next to nothing.
    pub address_writes: Rate,
    /// How long a refusal by a rate limit is held before it is answered (zero: at once). A client that ignores
    /// `Retry-After` and asks again as soon as it is answered then asks once per this, not thousands of times a
    /// second; people who wait as told never notice.
    pub refusal_delay: Duration,
}

/// The defaults, chosen so that normal chatting never meets them: a burst of 20 messages, a few GIFs in a row,
/// a handful of rooms; and so that an office or school behind one address has room for many people.
pub mod defaults {
    pub const SENDS: &str = "20/10s,100/10s,1000/1s";
    /// Pressing reactions on and off is quicker than writing: a little more room than sends.
    pub const REACTIONS: &str = "30/10s,150/10s,2000/1s";
    pub const EDITS: &str = "10/10s,50/10s,500/1s";
    pub const DELETIONS: &str = "20/10s,100/10s,500/1s";
    /// A page sends one every 2 s while its person types (and one at once when they start the next message after
    /// sending): one every 2 s on average per person, whatever their tabs send; more is dropped.
    pub const TYPING: &str = "3/6s,100/10s,3000/1s";
    pub const UPLOADS: &str = "10/1m,30/1m,20/1s";
    pub const UPLOAD_MIB: &str = "60/10m,300/10m,200/10s";
    pub const UPLOADS_AT_ONCE: u32 = 2;
    pub const ROOMS: &str = "5/10m,30/10m,60/1m";
    /// Sharing to the library is rarer than posting: a few an hour each.
    pub const SHARES: &str = "10/1h,30/1h,300/1m";
    /// Inviting someone to talk privately is a deliberate act: a few in ten minutes each, an office's worth per
    /// address.
    pub const INVITATIONS: &str = "5/10m,30/10m,300/1m";
    /// A person going through twenty rooms in a minute is browsing fast; an office behind one address, busy.
    pub const ARRIVALS: &str = "20/1m,120/1m,1000/1s";
    pub const NEW_SESSIONS: &str = "100/1m";
    pub const CONNECTIONS: u32 = 200;
    /// Twice the live connections: an office behind one address has a live connection and a few page
    /// connections (kept alive for --header-read-secs between requests) per person.
    pub const HTTP_CONNECTIONS: u32 = 512;
    pub const COMMANDS: &str = "30/10s";
    /// Above the sum of the per-address rates of every kind of write: it only ever stops floods.
    pub const ADDRESS_WRITES: &str = "300/10s";
    pub const REFUSAL_DELAY_SECS: f64 = 1.0;
    /// Refusals held at once per client address, and in all: beyond, they are answered at once, so holding
    /// them can never cost more than this many waiting requests.
    pub const HELD_REFUSALS_PER_ADDRESS: u32 = 32;
    pub const HELD_REFUSALS: u32 = 2048;
}

impl Default for LimitSettings {
    fn default() -> LimitSettings {
        let parse = |raw: &str| raw.parse::<Rates>().expect("valid default rates");
        LimitSettings {
            enabled: true,
            sends: parse(defaults::SENDS),
            reactions: parse(defaults::REACTIONS),
            edits: parse(defaults::EDITS),
            deletions: parse(defaults::DELETIONS),
            typing: parse(defaults::TYPING),
            uploads: parse(defaults::UPLOADS),
            upload_mib: parse(defaults::UPLOAD_MIB),
            uploads_at_once: defaults::UPLOADS_AT_ONCE,
            rooms: parse(defaults::ROOMS),
            shares: parse(defaults::SHARES),
            invitations: parse(defaults::INVITATIONS),
            arrivals: parse(defaults::ARRIVALS),
            new_sessions: defaults::NEW_SESSIONS.parse().expect("a valid default rate"),
            connections: defaults::CONNECTIONS,
            http_connections: defaults::HTTP_CONNECTIONS,
            commands: defaults::COMMANDS.parse().expect("a valid default rate"),
            address_writes: defaults::ADDRESS_WRITES.parse().expect("a valid default rate"),
            refusal_delay: Duration::from_secs_f64(defaults::REFUSAL_DELAY_SECS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_read_and_written_in_one_notation() {
        let rate: Rate = "20/10s".parse().unwrap();
        assert_eq!((rate.burst.get(), rate.period), (20, Duration::from_secs(10)));
        assert_eq!("5/10m".parse::<Rate>().unwrap().period, Duration::from_secs(600));
        for bad in ["", "20", "0/1s", "20/0s", "20/10", "x/1s", "20/1d"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
        let rates: Rates = defaults::SENDS.parse().unwrap();
        assert_eq!(rates.to_string(), defaults::SENDS);
        assert!("20/10s,100/10s".parse::<Rates>().is_err());
        LimitSettings::default();
    }
}
