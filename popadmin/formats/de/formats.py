"""German dates and numbers: day.month.year, 24-hour clock, decimal comma.

The same shape of rule as the English module (one short format on every page,
the admin's included), written the way German readers expect it.
"""

DATETIME_FORMAT = "d.m.Y H:i"
SHORT_DATETIME_FORMAT = "d.m.Y H:i"
DATE_FORMAT = "d.m.Y"
SHORT_DATE_FORMAT = "d.m.Y"
TIME_FORMAT = "H:i"
DECIMAL_SEPARATOR = ","
THOUSAND_SEPARATOR = "."
NUMBER_GROUPING = 3
