-- Several replicas on one database: a conversation's answer (or its deletion) holds the conversation's claim, one
-- per conversation across all replicas (the primary key decides, not a check-then-insert). The replica that holds it
-- renews lease_until while it works; a claim whose lease has run out belongs to a replica that died or lost the
-- database, and any replica may then take it over and mark that answer failed ("interrupted").
-- No foreign key: a claim is taken before the turn's ownership checks, and released by the one who took it.
create table answer_claims (
    conversation_id  uuid         primary key,
    turn_id          uuid         not null,
    replica          varchar(200) not null,
    claimed_at       timestamptz  not null default now(),
    lease_until      timestamptz  not null
);
create index answer_claims_replica_idx on answer_claims (replica);
create index answer_claims_lease_idx on answer_claims (lease_until);
