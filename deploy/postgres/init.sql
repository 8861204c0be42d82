-- One database per service and one for the keyring, created once when the `postgres` container initialises an empty
-- data volume (deploy/compose.yaml mounts this file into /docker-entrypoint-initdb.d/).
-- The owner is the image's POSTGRES_USER, which the services connect as.
CREATE DATABASE homeward_intake;
CREATE DATABASE homeward_referral;
CREATE DATABASE homeward_followup;
CREATE DATABASE homeward_keyring;
