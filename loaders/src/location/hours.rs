//! Opening hours in a store's own time zone: whether a store is open at an instant, with
//! hours that run past midnight (closing at or before opening means the next day).

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc};
use chrono_tz::Tz;

use super::OpeningHoursRecord;

fn time(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text, "%H:%M").ok()
}

/// The hours of the weekday `at` falls on in time zone `zone` (none: closed that day).
pub fn hours_on<'a>(
    hours: &'a [OpeningHoursRecord],
    zone: &str,
    at: DateTime<Utc>,
) -> Option<&'a OpeningHoursRecord> {
    let zone: Tz = zone.parse().unwrap_or(Tz::UTC);
    let weekday = at.with_timezone(&zone).weekday().number_from_monday() as u8;
    hours.iter().find(|h| h.weekday == weekday)
}

/// Whether a store with `hours` in time zone `zone` is open at `at`. Hours that cannot be
/// read count as closed; an unknown zone is read as UTC.
pub fn open_at(hours: &[OpeningHoursRecord], zone: &str, at: DateTime<Utc>) -> bool {
    let zone: Tz = zone.parse().unwrap_or(Tz::UTC);
    let local = at.with_timezone(&zone).naive_local();
    let today = local.date();
    // Today's hours, and yesterday's when they run past midnight.
    for (day, offset) in [(today, 0), (today - Duration::days(1), 1)] {
        let weekday = day.weekday().number_from_monday() as u8;
        for h in hours.iter().filter(|h| h.weekday == weekday) {
            let (Some(opens), Some(closes)) = (time(&h.opens), time(&h.closes)) else {
                continue;
            };
            let start = day.and_time(opens);
            let end = if closes <= opens {
                (day + Duration::days(1)).and_time(closes)
            } else {
                day.and_time(closes)
            };
            if offset == 1 && end <= today.and_time(NaiveTime::MIN) {
                continue;
            }
            if start <= local && local < end {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn hours(weekday: u8, opens: &str, closes: &str) -> OpeningHoursRecord {
        OpeningHoursRecord {
            weekday,
            opens: opens.into(),
            closes: closes.into(),
        }
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn hours_are_read_in_the_store_s_own_zone() {
        // Wednesday 2026-11-25, 14:30 UTC: 09:30 in New York, 06:30 in Los Angeles.
        let at = utc(2026, 11, 25, 14, 30);
        let week: Vec<_> = (1..=7).map(|d| hours(d, "09:00", "20:00")).collect();
        assert!(open_at(&week, "America/New_York", at));
        assert!(!open_at(&week, "America/Los_Angeles", at));
        assert!(open_at(&week, "Europe/Berlin", at), "15:30 in Berlin");
    }

    #[test]
    fn late_hours_run_past_midnight_into_the_next_day() {
        // A store open Friday 18:00 to 02:00.
        let friday_night = vec![hours(5, "18:00", "02:00")];
        // Saturday 2026-11-28 01:30 in New York = 06:30 UTC.
        assert!(open_at(
            &friday_night,
            "America/New_York",
            utc(2026, 11, 28, 6, 30)
        ));
        // Saturday 02:30 local: closed.
        assert!(!open_at(
            &friday_night,
            "America/New_York",
            utc(2026, 11, 28, 7, 30)
        ));
        // Friday 17:59 local = 22:59 UTC: not yet.
        assert!(!open_at(
            &friday_night,
            "America/New_York",
            utc(2026, 11, 27, 22, 59)
        ));
        // Friday 23:00 local.
        assert!(open_at(
            &friday_night,
            "America/New_York",
            utc(2026, 11, 28, 4, 0)
        ));
    }

    #[test]
    fn closing_time_is_exclusive_and_bad_hours_count_as_closed() {
        let wednesday = vec![hours(3, "09:00", "17:00"), hours(3, "later", "never")];
        assert!(!open_at(&wednesday, "UTC", utc(2026, 11, 25, 17, 0)));
        assert!(open_at(&wednesday, "UTC", utc(2026, 11, 25, 16, 59)));
        assert!(!open_at(&wednesday, "Not/AZone", utc(2026, 11, 25, 8, 0)));
    }
}
