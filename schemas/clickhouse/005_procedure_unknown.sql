-- A dossier received for a procedure the catalogue does not know, with neither `due_at` nor
-- `processing_time` on its RECEIVED: it has no deadline and raises no alert. Existing rows
-- had a known procedure or a deadline of their own, hence the default.
ALTER TABLE dossier_facts ADD COLUMN IF NOT EXISTS procedure_unknown Bool DEFAULT false AFTER apologies;
