"""Pure building blocks shared by every app: money, periods, errors. No Django here."""
