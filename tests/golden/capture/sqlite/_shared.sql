DROP TRIGGER IF EXISTS audittrail_transaction_append_only_update
;
DROP TRIGGER IF EXISTS audittrail_transaction_append_only_delete
;
CREATE TRIGGER audittrail_transaction_append_only_update BEFORE UPDATE ON "transaction" FOR EACH ROW WHEN 1
BEGIN
    -- audittrail-capture shared e500c8aa260d71fc
    SELECT RAISE(ABORT, 'history is append-only: UPDATE of transaction refused');
END
;
CREATE TRIGGER audittrail_transaction_append_only_delete BEFORE DELETE ON "transaction" FOR EACH ROW
BEGIN
    -- audittrail-capture shared e500c8aa260d71fc
    SELECT RAISE(ABORT, 'history is append-only: DELETE of transaction refused');
END
