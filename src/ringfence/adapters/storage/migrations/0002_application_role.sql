-- ringfence schema 2: the application role.
--
-- ringfence_app (NOLOGIN; grant it to the login the service uses, or connect with
-- options=-crole=ringfence_app) may read everything and append to the journal and the
-- transfer projection, but holds no UPDATE, DELETE or TRUNCATE on them: even a bug in the
-- service, or an operator's session in that role, cannot rewrite what was posted. The triggers
-- of schema 1 refuse the same to every role, the owner included.
--
-- Roles belong to the whole server: the role is created once and reused by every ledger schema.
-- A login without CREATEROLE skips this step with a notice; the triggers still hold.

DO $$
DECLARE
    here TEXT := quote_ident(current_schema());
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ringfence_app') THEN
        BEGIN
            CREATE ROLE ringfence_app NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database created it at the same moment
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'ringfence_app not created: % may not create roles', current_user;
                RETURN;
        END;
    END IF;
    EXECUTE 'GRANT USAGE ON SCHEMA ' || here || ' TO ringfence_app';
    EXECUTE 'GRANT SELECT ON ALL TABLES IN SCHEMA ' || here || ' TO ringfence_app';
    EXECUTE 'GRANT INSERT ON ' || here || '.journal, ' || here || '.transfers, '
        || here || '.assets, ' || here || '.clients, ' || here || '.pools TO ringfence_app';
    -- Checkpoints rewrite balances and lifecycle rows: derived state, rebuilt from the journal.
    EXECUTE 'GRANT INSERT, UPDATE ON ' || here || '.accounts, ' || here || '.pending_transfers, '
        || here || '.breaks, ' || here || '.reversals, ' || here || '.meta TO ringfence_app';
    EXECUTE 'REVOKE UPDATE, DELETE, TRUNCATE ON ' || here || '.journal, '
        || here || '.transfers FROM ringfence_app';
END $$;
