"""Time units, one constant per fact. Crypto trades every day of the year, so a year is 365 days of
`DAY_MS`: every annualized figure, a borrow rate charged per bar and the sample's volatility use this year."""

DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS
