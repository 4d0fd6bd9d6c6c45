DROP INDEX team_invitations_merchant;
DROP TABLE team_invitations;
