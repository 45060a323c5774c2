"""Output formats built from events: Guardium records (:mod:`.guardium`)."""
