-- GroundChat schema. Regions are numbered per conversation ([n] in message text); the number is stable.

create table images (
    id          uuid primary key,
    sha256      varchar(64)  not null unique,   -- the same bytes are stored once
    mime_type   varchar(100) not null,
    size_bytes  bigint       not null,
    width       integer      not null,
    height      integer      not null,
    content     bytea        not null,
    created_at  timestamptz  not null
);

create table conversations (
    id          uuid primary key,
    owner       varchar(200),
    title       varchar(500) not null,
    image_id    uuid references images (id),    -- the image the conversation is currently about
    created_at  timestamptz  not null,
    updated_at  timestamptz  not null
);
create index conversations_updated_at_idx on conversations (updated_at desc);

create table messages (
    id                 uuid primary key,
    conversation_id    uuid        not null references conversations (id) on delete cascade,
    seq                integer     not null,
    role               varchar(16) not null check (role in ('user', 'assistant')),
    display_text       text        not null,
    model_text         text,                    -- the model's own markup, re-fed in later turns
    status             varchar(16) not null check (status in ('streaming', 'complete', 'cancelled', 'failed')),
    error_reason       text,
    image_id           uuid references images (id),
    timings_json       text,
    prompt_tokens      integer,
    completion_tokens  integer,
    created_at         timestamptz not null,
    unique (conversation_id, seq)
);
create index messages_status_idx on messages (status);

create table regions (
    id               uuid primary key,
    conversation_id  uuid        not null references conversations (id) on delete cascade,
    message_id       uuid        not null references messages (id) on delete cascade,
    number           integer     not null,
    x1               double precision not null,
    y1               double precision not null,
    x2               double precision not null,
    y2               double precision not null,
    source           varchar(8)  not null check (source in ('user', 'model')),
    phrase           text,
    phrase_start     integer,
    phrase_end       integer,
    score            double precision,
    mask_json        text,                      -- {"size":[h,w],"counts":[...]} row-major RLE
    points_json      text,                      -- [{"word","start","end","x","y"}]
    unique (conversation_id, number)
);
create index regions_message_idx on regions (message_id);
