-- Secrets every instance sharing this database must agree on, made once by whichever starts first.
-- `visitor_cookie_key`: signs the cookie that carries a reader's identity before they have a session.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);
