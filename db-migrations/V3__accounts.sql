-- Accounts and access control: every conversation and image belongs to someone.
create table accounts (
    id             uuid primary key,
    username       varchar(64)  not null unique,
    password_hash  varchar(100) not null,             -- bcrypt
    role           varchar(16)  not null check (role in ('user', 'admin')),
    disabled       boolean      not null default false,
    created_at     timestamptz  not null
);

-- API tokens for programs: only a SHA-256 of the token is kept; the prefix lets a person tell them apart.
create table api_tokens (
    id            uuid primary key,
    account_id    uuid         not null references accounts (id) on delete cascade,
    name          varchar(100) not null,
    prefix        varchar(16)  not null,
    token_hash    varchar(64)  not null unique,
    created_at    timestamptz  not null,
    last_used_at  timestamptz
);

-- Conversations from before accounts have no account yet; the first admin receives them at the first start.
alter table conversations add column account_id uuid references accounts (id) on delete cascade;
create index conversations_account_idx on conversations (account_id, updated_at desc);

-- Identical bytes are stored once, but each uploader owns them separately: nobody learns what others uploaded.
create table image_owners (
    image_id    uuid not null references images (id) on delete cascade,
    account_id  uuid not null references accounts (id) on delete cascade,
    primary key (image_id, account_id)
);
