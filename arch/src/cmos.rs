//! The CMOS real-time clock: wall-clock time at boot, to the second.

use crate::port::{inb, outb};

const ADDRESS: u16 = 0x70;
const DATA: u16 = 0x71;

/// # Safety
/// Port access (CPL0, or CPL3 through the TSS I/O bitmap); nothing else uses the CMOS
/// ports.
unsafe fn read(register: u8) -> u8 {
    // SAFETY: per the contract. Bit 7 keeps NMIs enabled.
    unsafe {
        outb(ADDRESS, register & 0x7F);
        inb(DATA)
    }
}

fn from_bcd(value: u8) -> u8 {
    (value & 0x0F) + (value >> 4) * 10
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Seconds since the Unix epoch according to the RTC (assumed to run in UTC, as
/// QEMU's does by default), or `None` if the clock reads as nonsense.
///
/// # Safety
/// Port access (CPL0, or CPL3 through the TSS I/O bitmap); nothing else uses the CMOS
/// ports.
pub unsafe fn unix_seconds() -> Option<u64> {
    // SAFETY: per the contract.
    unsafe {
        // Wait for an update to finish so the fields are consistent.
        let mut spins = 0;
        while read(0x0A) & 0x80 != 0 {
            spins += 1;
            if spins > 1_000_000 {
                return None;
            }
        }
        let status_b = read(0x0B);
        let binary = status_b & 0x04 != 0;
        let convert = |v: u8| if binary { v } else { from_bcd(v) };
        let second = convert(read(0x00));
        let minute = convert(read(0x02));
        let hour_raw = read(0x04);
        let day = convert(read(0x07));
        let month = convert(read(0x08));
        let year = convert(read(0x09));
        let mut hour = convert(hour_raw & 0x7F);
        if status_b & 0x02 == 0 && hour_raw & 0x80 != 0 {
            hour = (hour % 12) + 12;
        }
        if month == 0 || month > 12 || day == 0 || day > 31 || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let days = days_from_civil(2000 + i64::from(year), i64::from(month), i64::from(day));
        let seconds = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
        u64::try_from(seconds).ok()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates_count_days() {
        assert_eq!(super::days_from_civil(1970, 1, 1), 0);
        assert_eq!(super::days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(super::days_from_civil(2026, 11, 24), 20_781);
    }
}
