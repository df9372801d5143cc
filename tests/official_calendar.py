"""The civil servants' calendar 2019–2026, written out by hand from the notices (test oracle).

Each holiday is written as the notices and the press announced it, "nghỉ từ ... đến hết ...",
weekly rest days included, with the make-up Saturdays (ngày làm bù) beside it; the product's
override file lists Monday–Friday days instead, so the two are independent statements of the
same calendar. Sources (docs/calendar.md quotes them): 2019 Công văn 6519/VPCP-KGVX
(11/7/2018); 2020 Công văn 9087/VPCP-KGVX (7/10/2019); 2021 the Government Office's letter of
26/11/2020; 2022 Công văn 245/VPCP-KGVX (11/1/2022); 2023 Công văn 8056/VPCP-KGVX
(1/12/2022); 2024 Công văn 8662/VPCP-KGVX (3/11/2023) and 2450/VPCP-KGVX (12/4/2024); 2025
Công văn 8726/VPCP-KGVX (26/11/2024); 2026 Thông báo 9441/TB-BNV (16/10/2025) and Công văn
12729/VPCP-KGVX (25/12/2025); the other holidays by the Labour Code (2012 Art. 115, 2019
Art. 112: a holiday on a weekly rest day is taken on the next working day).
"""

from __future__ import annotations

from datetime import date, timedelta

Period = tuple[date, date]
"""A holiday period, first and last day included."""


def _p(first: str, last: str | None = None) -> Period:
    return date.fromisoformat(first), date.fromisoformat(last or first)


HOLIDAYS: dict[int, tuple[Period, ...]] = {
    2019: (
        _p("2018-12-29", "2019-01-01"),  # Tết Dương lịch, 31/12/2018 swapped with 5/1
        _p("2019-02-02", "2019-02-10"),  # Tết Kỷ Hợi, 9 days
        _p("2019-04-13", "2019-04-15"),  # Giỗ Tổ on Sunday 14/4
        _p("2019-04-27", "2019-05-01"),  # 30/4–1/5, Monday 29/4 swapped with 4/5
        _p("2019-08-31", "2019-09-02"),  # Quốc khánh on Monday
    ),
    2020: (
        _p("2020-01-01"),
        _p("2020-01-23", "2020-01-29"),  # Tết Canh Tý, 7 days
        _p("2020-04-02"),  # Giỗ Tổ, Thursday
        _p("2020-04-30", "2020-05-03"),
        _p("2020-09-02"),
    ),
    2021: (
        _p("2021-01-01", "2021-01-03"),
        _p("2021-02-10", "2021-02-16"),  # Tết Tân Sửu, 7 days
        _p("2021-04-21"),
        _p("2021-04-30", "2021-05-03"),  # 1/5 on Saturday, taken on Monday 3/5
        _p("2021-09-02", "2021-09-05"),  # Quốc khánh 2/9 and 3/9 (Labour Code 2019)
    ),
    2022: (
        _p("2022-01-01", "2022-01-03"),
        _p("2022-01-29", "2022-02-06"),  # Tết Nhâm Dần 31/1–4/2 with both weekends
        _p("2022-04-09", "2022-04-11"),
        _p("2022-04-30", "2022-05-03"),
        _p("2022-09-01", "2022-09-04"),
    ),
    2023: (
        _p("2022-12-31", "2023-01-02"),
        _p("2023-01-20", "2023-01-26"),  # Tết Quý Mão, 7 days
        _p("2023-04-29", "2023-05-03"),  # Giỗ Tổ Saturday 29/4, 30/4 Sunday, 1/5 Monday
        _p("2023-09-01", "2023-09-04"),
    ),
    2024: (
        _p("2023-12-30", "2024-01-01"),
        _p("2024-02-08", "2024-02-14"),  # Tết Giáp Thìn, 7 days
        _p("2024-04-18"),
        _p("2024-04-27", "2024-05-01"),  # Monday 29/4 swapped with Saturday 4/5
        _p("2024-08-31", "2024-09-03"),
    ),
    2025: (
        _p("2025-01-01"),
        _p("2025-01-25", "2025-02-02"),  # Tết Ất Tỵ, 9 days
        _p("2025-04-05", "2025-04-07"),  # Giỗ Tổ Monday 7/4
        _p("2025-04-30", "2025-05-04"),  # Friday 2/5 swapped with Saturday 26/4
        _p("2025-08-30", "2025-09-02"),
    ),
    2026: (
        _p("2026-01-01", "2026-01-04"),  # Friday 2/1 swapped with Saturday 10/1
        _p("2026-02-14", "2026-02-22"),  # Tết Bính Ngọ, 9 days
        _p("2026-04-25", "2026-04-27"),  # Giỗ Tổ Sunday 26/4, taken on Monday 27/4
        _p("2026-04-30", "2026-05-03"),
        _p("2026-08-29", "2026-09-02"),  # Monday 31/8 swapped with Saturday 22/8
    ),
}

MAKE_UP_SATURDAYS: dict[int, tuple[date, ...]] = {
    2019: (date(2019, 1, 5), date(2019, 5, 4)),
    2020: (),
    2021: (),
    2022: (),
    2023: (),
    2024: (date(2024, 5, 4),),
    2025: (date(2025, 4, 26),),
    2026: (date(2026, 1, 10), date(2026, 8, 22)),
}


def days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range((date(year + 1, 1, 1) - first).days)]


def is_working_day(day: date) -> bool:
    """Monday–Friday outside the year's holiday periods, or a make-up Saturday."""
    if day in MAKE_UP_SATURDAYS[day.year]:
        return True
    off = any(first <= day <= last for first, last in HOLIDAYS[day.year])
    return day.weekday() < 5 and not off
