//! The `Date` header field (RFC 9110 §6.6.1): the time a response was made, in the
//! IMF-fixdate form of §5.6.7, `Sun, 06 Nov 1994 08:49:37 GMT` — always 29 bytes.
//!
//! - [`format()`] and [`parse`] convert between seconds since the Unix epoch and that form
//!   (days to calendar dates with the civil-from-days arithmetic of the proleptic
//!   Gregorian calendar, and back), for years 1970 to 9999.
//! - [`now`] is the value for a response made now. The clock has one-second resolution
//!   in this field, so the text is formatted about once a second and shared by every
//!   thread through a small lock-free cache (a sequence lock over atomics): a response
//!   costs one clock read and a few atomic loads, and never an allocation or a lock.
//!
//! ```
//! use examples::http::date;
//! assert_eq!(&date::format(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
//! assert_eq!(date::parse(b"Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
//! let now = date::now();
//! assert!(date::parse(&now).is_some());
//! ```

use std::sync::atomic::{fence, AtomicU64, Ordering};

/// The length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const LEN: usize = 29;

/// An IMF-fixdate, as the bytes of the field's value.
pub type HttpDate = [u8; LEN];

/// The last second [`format()`] can write: 9999-12-31 23:59:59 (the form has four digits
/// of year). Later times are written as this one.
pub const MAX_SECONDS: u64 = 253_402_300_799;

const SECONDS_PER_DAY: u64 = 86_400;

/// Day names, from the epoch's day of the week on: 1970-01-01 was a Thursday.
const WEEKDAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Days in a 400-year cycle of the Gregorian calendar (97 leap years).
const DAYS_PER_ERA: u64 = 146_097;

/// Days from 0000-03-01 to 1970-01-01. Counting from a March 1st puts February, and its
/// leap day, at the end of each (shifted) year, so that the month arithmetic below needs
/// no special case for it.
const EPOCH_FROM_MARCH_0000: u64 = 719_468;

/// A calendar date: year, month (1 to 12), day of the month (1 to 31).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: u64,
    month: u64,
    day: u64,
}

/// The calendar date of the day `days` after 1970-01-01.
fn civil_from_days(days: u64) -> Civil {
    let from_march = days + EPOCH_FROM_MARCH_0000;
    let era = from_march / DAYS_PER_ERA;
    let day_of_era = from_march % DAYS_PER_ERA; // 0 ..= 146096
                                                // The year within the era: 365 days a year, less the leap days already passed (one
                                                // every 4 years, none every 100, one again at the era's last day).
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524
        - day_of_era / (DAYS_PER_ERA - 1))
        / 365; // 0 ..= 399
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // 0 ..= 365
                                                                                              // Months from March: 31 30 31 30 31 | 31 30 31 30 31 | 31 28/29, a pattern of 153
                                                                                              // days every 5 months, which (5 * d + 2) / 153 follows.
    let month_from_march = (5 * day_of_year + 2) / 153; // 0 ..= 11
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let (month, next_year) = if month_from_march < 10 {
        (month_from_march + 3, 0)
    } else {
        (month_from_march - 9, 1)
    };
    Civil {
        year: era * 400 + year_of_era + next_year,
        month,
        day,
    }
}

/// The days from 1970-01-01 to `date` (`None` before 1970): the inverse of
/// [`civil_from_days`].
fn days_from_civil(date: Civil) -> Option<u64> {
    let year = if date.month <= 2 {
        date.year.checked_sub(1)?
    } else {
        date.year
    };
    let month_from_march = (date.month + 9) % 12;
    let (era, year_of_era) = (year / 400, year % 400);
    let day_of_year = (153 * month_from_march + 2) / 5 + date.day - 1;
    let day_of_era = 365 * year_of_era + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * DAYS_PER_ERA + day_of_era).checked_sub(EPOCH_FROM_MARCH_0000)
}

fn is_leap(year: u64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Two ASCII digits of `n` (below 100).
fn two_digits(n: u64) -> [u8; 2] {
    [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8]
}

/// The IMF-fixdate of `unix_seconds` seconds after 1970-01-01 00:00:00 UTC (leap seconds
/// aside, as Unix time does). Beyond [`MAX_SECONDS`] the time is that of `MAX_SECONDS`.
///
/// ```
/// use examples::http::date::format;
/// assert_eq!(&format(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
/// assert_eq!(&format(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
/// ```
pub fn format(unix_seconds: u64) -> HttpDate {
    let seconds = unix_seconds.min(MAX_SECONDS);
    let days = seconds / SECONDS_PER_DAY;
    let time = seconds % SECONDS_PER_DAY;
    let date = civil_from_days(days);
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[0..3].copy_from_slice(WEEKDAYS[(days % 7) as usize]);
    out[5..7].copy_from_slice(&two_digits(date.day));
    out[8..11].copy_from_slice(MONTHS[(date.month - 1) as usize]);
    out[12..14].copy_from_slice(&two_digits(date.year / 100));
    out[14..16].copy_from_slice(&two_digits(date.year % 100));
    out[17..19].copy_from_slice(&two_digits(time / 3600));
    out[20..22].copy_from_slice(&two_digits(time / 60 % 60));
    out[23..25].copy_from_slice(&two_digits(time % 60));
    out
}

/// The seconds since the epoch an IMF-fixdate names, if `text` is exactly one: the right
/// punctuation, a day of the week that matches the date, an existing date from 1970 on,
/// and a time up to 23:59:60 (a leap second reads as the next second). The obsolete forms
/// (RFC 850, asctime) and anything around the 29 bytes are refused.
///
/// ```
/// use examples::http::date::parse;
/// assert_eq!(parse(b"Thu, 01 Jan 1970 00:00:01 GMT"), Some(1));
/// assert_eq!(parse(b"Wed, 01 Jan 1970 00:00:01 GMT"), None); // a Thursday
/// assert_eq!(parse(b"Thu, 29 Feb 2001 00:00:00 GMT"), None); // no such day
/// assert_eq!(parse(b"Sunday, 06-Nov-94 08:49:37 GMT"), None); // RFC 850
/// ```
pub fn parse(text: &[u8]) -> Option<u64> {
    let text: &HttpDate = text.try_into().ok()?;
    let number = |range: std::ops::Range<usize>| -> Option<u64> {
        let digits = &text[range];
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| digits.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0')))
    };
    if &text[3..5] != b", "
        || text[7] != b' '
        || text[11] != b' '
        || text[16] != b' '
        || text[19] != b':'
        || text[22] != b':'
        || &text[25..] != b" GMT"
    {
        return None;
    }
    let month = MONTHS.iter().position(|m| m[..] == text[8..11])? as u64 + 1;
    let date = Civil {
        year: number(12..16)?,
        month,
        day: number(5..7)?,
    };
    if date.day == 0 || date.day > days_in_month(date.year, date.month) {
        return None;
    }
    let (hour, minute, second) = (number(17..19)?, number(20..22)?, number(23..25)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(date)?;
    if WEEKDAYS[(days % 7) as usize][..] != text[0..3] {
        return None;
    }
    Some(days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second)
}

/// The IMF-fixdate of the current second, from the process-wide cache (see the
/// [module docs](self)): formatted by the first caller in a new second, read by every
/// other. Never blocks, never allocates.
pub fn now() -> HttpDate {
    CACHE.get(unix_seconds())
}

/// Append the header line `Date: <now>\r\n` to `out` (for servers that assemble their
/// responses themselves, as the reference servers do).
///
/// ```
/// let mut out = Vec::new();
/// examples::http::date::push_header(&mut out);
/// assert!(out.starts_with(b"Date: ") && out.ends_with(b" GMT\r\n"));
/// assert_eq!(out.len(), "Date: ".len() + examples::http::date::LEN + 2);
/// ```
pub fn push_header(out: &mut Vec<u8>) {
    out.extend_from_slice(b"Date: ");
    out.extend_from_slice(&now());
    out.extend_from_slice(b"\r\n");
}

/// Whole seconds since the epoch by the system's real-time clock (0 before the epoch).
/// On Linux the coarse clock: read from memory the kernel updates every tick (a few
/// milliseconds late at most, which a one-second field does not see), never a system
/// call, whatever the clock source.
fn unix_seconds() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
        u64::try_from(now.tv_sec).unwrap_or(0)
    }
    #[cfg(not(target_os = "linux"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// Words of a cached date: its second, then its 29 bytes in 4 words.
const WORDS: usize = 5;

/// No second: what an empty cache holds (no clock reads it).
const EMPTY: u64 = u64::MAX;

/// One formatted date and its second, shared by every thread: a sequence lock made of
/// atomics. The sequence is even when the words are stable and odd while one thread
/// rewrites them; a reader that sees it change (or odd) during its reads formats the date
/// itself instead of waiting. One thread writes at a time (the one that moved the
/// sequence to odd); the others skip writing.
struct Cache {
    sequence: AtomicU64,
    words: [AtomicU64; WORDS],
}

static CACHE: Cache = Cache::new();

impl Cache {
    const fn new() -> Cache {
        Cache {
            sequence: AtomicU64::new(0),
            words: [
                AtomicU64::new(EMPTY),
                AtomicU64::new(0),
                AtomicU64::new(0),
                AtomicU64::new(0),
                AtomicU64::new(0),
            ],
        }
    }

    /// The date of `second`: cached, or formatted now (and cached for the threads to come).
    fn get(&self, second: u64) -> HttpDate {
        if let Some(date) = self.lookup(second) {
            return date;
        }
        let date = format(second);
        self.publish(second, &date);
        date
    }

    /// The cached date if it is `second`'s, read consistently.
    fn lookup(&self, second: u64) -> Option<HttpDate> {
        let before = self.sequence.load(Ordering::Acquire);
        if before % 2 == 1 {
            return None;
        }
        let words: [u64; WORDS] = std::array::from_fn(|i| self.words[i].load(Ordering::Relaxed));
        // Orders the loads above before the check below: if any of them saw a write of a
        // publisher, the publisher's odd sequence (written before its fence) is seen here.
        fence(Ordering::Acquire);
        let after = self.sequence.load(Ordering::Relaxed);
        (before == after && words[0] == second).then(|| unpack(&words))
    }

    /// Cache `date`, the date of `second`, unless another thread is caching one now or the
    /// cache holds a later second already (a thread whose clock read came earlier).
    fn publish(&self, second: u64, date: &HttpDate) {
        let sequence = self.sequence.load(Ordering::Relaxed);
        if sequence % 2 == 1 {
            return;
        }
        let cached = self.words[0].load(Ordering::Relaxed);
        if cached != EMPTY && cached > second {
            return;
        }
        if self
            .sequence
            .compare_exchange(sequence, sequence + 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        // The odd sequence above is visible to any reader that sees a word below.
        fence(Ordering::Release);
        for (word, value) in self.words.iter().zip(pack(second, date)) {
            word.store(value, Ordering::Relaxed);
        }
        self.sequence.store(sequence + 2, Ordering::Release);
    }
}

fn pack(second: u64, date: &HttpDate) -> [u64; WORDS] {
    let mut padded = [0u8; 32];
    padded[..LEN].copy_from_slice(date);
    let mut words = [second, 0, 0, 0, 0];
    for (word, chunk) in words[1..].iter_mut().zip(padded.chunks_exact(8)) {
        *word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
    }
    words
}

fn unpack(words: &[u64; WORDS]) -> HttpDate {
    let mut padded = [0u8; 32];
    for (chunk, word) in padded.chunks_exact_mut(8).zip(&words[1..]) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    let mut date = [0u8; LEN];
    date.copy_from_slice(&padded[..LEN]);
    date
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn text(date: HttpDate) -> String {
        String::from_utf8(date.to_vec()).unwrap()
    }

    /// Dates checked against `date -u -d @SECONDS` (GNU coreutils).
    const KNOWN: [(u64, &str); 16] = [
        (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (86_399, "Thu, 01 Jan 1970 23:59:59 GMT"),
        (68_169_600, "Tue, 29 Feb 1972 00:00:00 GMT"),
        (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
        (946_684_799, "Fri, 31 Dec 1999 23:59:59 GMT"),
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
        (1_234_567_890, "Fri, 13 Feb 2009 23:31:30 GMT"),
        (1_709_164_800, "Thu, 29 Feb 2024 00:00:00 GMT"),
        (2_147_483_647, "Tue, 19 Jan 2038 03:14:07 GMT"),
        (2_147_483_648, "Tue, 19 Jan 2038 03:14:08 GMT"),
        (4_102_444_800, "Fri, 01 Jan 2100 00:00:00 GMT"),
        (4_107_456_000, "Sun, 28 Feb 2100 00:00:00 GMT"),
        (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),
        (4_294_967_296, "Sun, 07 Feb 2106 06:28:16 GMT"),
        (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),
        (253_402_300_800, "Fri, 31 Dec 9999 23:59:59 GMT"),
    ];

    #[test]
    fn known_dates() {
        for (seconds, expected) in KNOWN {
            assert_eq!(text(format(seconds)), expected, "{seconds}");
            let back = seconds.min(MAX_SECONDS);
            assert_eq!(parse(expected.as_bytes()), Some(back), "{expected}");
        }
        assert_eq!(format(u64::MAX), format(MAX_SECONDS));
    }

    /// Every day from 1970 to 9999 against a calendar counted one day at a time, and
    /// back.
    #[test]
    fn every_day_agrees_with_a_day_by_day_count() {
        let mut expected = Civil {
            year: 1970,
            month: 1,
            day: 1,
        };
        for days in 0..=MAX_SECONDS / SECONDS_PER_DAY {
            assert_eq!(civil_from_days(days), expected, "day {days}");
            assert_eq!(days_from_civil(expected), Some(days), "{expected:?}");
            expected.day += 1;
            if expected.day > days_in_month(expected.year, expected.month) {
                expected.day = 1;
                expected.month += 1;
                if expected.month > 12 {
                    expected.month = 1;
                    expected.year += 1;
                }
            }
        }
        assert_eq!(expected.year, 10_000);
    }

    #[test]
    fn formatted_dates_parse_back() {
        // Seconds spread over the whole range, with every time of day's digits.
        let mut seconds = 0u64;
        while seconds <= MAX_SECONDS {
            let date = format(seconds);
            assert_eq!(parse(&date), Some(seconds), "{}", text(date));
            seconds += 7_777_777 + seconds % 3_601;
        }
    }

    #[test]
    fn parse_refuses_what_is_not_an_imf_fixdate() {
        for bad in [
            &b""[..],
            b"Sun, 06 Nov 1994 08:49:37 GMT ",
            b" Sun, 06 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Nov 1994 08:49:37 UTC",
            b"Sun, 6 Nov 1994 08:49:37 GMT",
            b"Sun 06 Nov 1994 08:49:37 GMT.",
            b"Sun, 06 nov 1994 08:49:37 GMT",
            b"sun, 06 Nov 1994 08:49:37 GMT",
            b"Mon, 06 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Nov 1994 08.49:37 GMT",
            b"Sun, 06 Nov 1994 24:00:00 GMT",
            b"Sun, 06 Nov 1994 08:60:00 GMT",
            b"Sun, 06 Nov 1994 08:49:61 GMT",
            b"Sun, 00 Nov 1994 08:49:37 GMT",
            b"Sun, 31 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Nov 19x4 08:49:37 GMT",
            b"Sun, 06 Nov +994 08:49:37 GMT",
            b"Wed, 31 Dec 1969 23:59:59 GMT",
            b"Mon, 29 Feb 2100 00:00:00 GMT",
            b"Sunday, 06-Nov-94 08:49:37 GMT",
            b"Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        // A leap second is the next second's time.
        assert_eq!(
            parse(b"Sat, 31 Dec 2016 23:59:60 GMT"),
            parse(b"Sun, 01 Jan 2017 00:00:00 GMT")
        );
    }

    #[test]
    fn the_cache_holds_one_second() {
        let cache = Cache::new();
        assert_eq!(cache.lookup(0), None, "empty");
        assert_eq!(cache.get(100), format(100));
        assert_eq!(cache.lookup(100), Some(format(100)));
        assert_eq!(cache.lookup(101), None);
        assert_eq!(cache.get(101), format(101));
        assert_eq!(cache.lookup(101), Some(format(101)));
        // A thread whose clock read came before the second changed: its own date, and the
        // cache keeps the later second.
        assert_eq!(cache.get(100), format(100));
        assert_eq!(cache.lookup(101), Some(format(101)));
        assert_eq!(cache.lookup(100), None);
        // The epoch's second too (the empty cache holds no second).
        let cache = Cache::new();
        assert_eq!(cache.get(0), format(0));
        assert_eq!(cache.lookup(0), Some(format(0)));
    }

    /// Threads that move through the seconds together, publishing and reading at once:
    /// every date read is its second's, never a mix of two.
    #[test]
    fn concurrent_readers_never_see_a_torn_date() {
        let cache = Arc::new(Cache::new());
        let clock = Arc::new(AtomicU64::new(1_700_000_000));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (cache, clock) = (Arc::clone(&cache), Arc::clone(&clock));
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        let second = if i % 64 == 0 {
                            clock.fetch_add(1, Ordering::Relaxed) + 1
                        } else {
                            clock.load(Ordering::Relaxed)
                        };
                        assert_eq!(cache.get(second), format(second), "{second}");
                        if let Some(date) = cache.lookup(second) {
                            assert_eq!(date, format(second), "{second}");
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    }

    #[test]
    fn now_is_the_clock_s_second() {
        let before = unix_seconds();
        let date = now();
        let after = unix_seconds();
        let seconds = parse(&date).unwrap();
        assert!((before..=after).contains(&seconds), "{}", text(date));
        let system = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(seconds.abs_diff(system) <= 1, "{} vs {system}", text(date));
    }
}
