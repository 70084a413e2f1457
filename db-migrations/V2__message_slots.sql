-- The region numbers behind the <boxes> slots of a user message's model text, in slot order (JSON array),
-- so that later turns re-feed each slot with the box it referred to ([n] of an earlier turn or a drawn one).
alter table messages add column slot_numbers text;
