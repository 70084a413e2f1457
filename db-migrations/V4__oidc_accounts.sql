-- Accounts that sign in through an OpenID Connect provider are found again by the provider's issuer and subject,
-- never by a username the provider lets people choose.
alter table accounts add column oidc_subject varchar(512) unique;
