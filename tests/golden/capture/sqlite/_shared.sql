DROP TRIGGER IF EXISTS audittrail_transaction_append_only_update
;
DROP TRIGGER IF EXISTS audittrail_transaction_append_only_delete
;
CREATE TRIGGER audittrail_transaction_append_only_update BEFORE UPDATE ON "audittrail_transaction" FOR EACH ROW WHEN 1
BEGIN
    -- audittrail-capture shared 767c864f1e1e3240
    SELECT RAISE(ABORT, 'history is append-only: UPDATE of audittrail_transaction refused');
END
;
CREATE TRIGGER audittrail_transaction_append_only_delete BEFORE DELETE ON "audittrail_transaction" FOR EACH ROW
BEGIN
    -- audittrail-capture shared 767c864f1e1e3240
    SELECT RAISE(ABORT, 'history is append-only: DELETE of audittrail_transaction refused');
END
