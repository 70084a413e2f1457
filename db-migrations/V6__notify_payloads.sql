-- Events that reach other replicas through PostgreSQL NOTIFY: a payload over NOTIFY's 8000-byte limit (a mask, a
-- finished message) is stored here and the notification carries its id. Rows are read at once and deleted after a
-- minute.
create table notify_payloads (
    id          bigserial    primary key,
    body        text         not null,
    created_at  timestamptz  not null default now()
);
create index notify_payloads_created_idx on notify_payloads (created_at);
