"""One way to write a date and time on every page, the admin's lists included.

Django's own English formats ("Dec. 4, 2026, 7:49 p.m.") would sit beside the
popadmin pages' "2026-12-04 19:49"; this module (FORMAT_MODULE_PATH) makes the
admin use the same. Templates write absolute times with the `when` filter
(popadmin/templatetags/dates.py); docs/operators/dashboard.md states the rule.
"""

DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
