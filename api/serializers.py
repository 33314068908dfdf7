"""What the API returns. Input is validated by the pages' forms (api/form_data.py); the
input serializers here only describe it in the OpenAPI schema."""

from rest_framework import serializers

from accounts.models import Mailbox
from api.models import ApiToken
from delivery.models import Delivery
from retrieval import explain
from retrieval.models import AlertEpisode, GlobalSettings, RemoteAccount, Run
from retrieval.oauth.permissions import may_connect

ACCOUNT_FIELDS = [
    "name", "protocol", "security", "host", "port", "username", "auth_method", "folders",
    "target_folder", "keep_policy", "keep_days", "poll_minutes", "push", "enabled",
]
PUSH_HELP = ("IMAP accounts: new mail is fetched within seconds of reaching the server (IDLE). "
             "The account's own choice: where a group of the owner turns push off, push is off "
             "whatever this says, and a user's token cannot set it to true.")
STAFF_ACCOUNT_FIELDS = ["owner", "network_restricted", "verify_tls", "mode",
                        "max_message_mb", "delivery_target", "folder_map"]


class AccountStatusSerializer(serializers.Serializer):
    result = serializers.CharField(help_text="ok, partial, error, running, or empty: never "
                                             "checked.")
    last_check = serializers.DateTimeField(allow_null=True)
    next_check = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(help_text="The error as the server or the engine "
                                                 "gave it.")
    error_summary = serializers.CharField(help_text="What went wrong, in plain words.")
    next_step = serializers.CharField(help_text="What to do about it.")
    who = serializers.CharField(help_text="Who can do the next step: \"you\" or \"an "
                                          "administrator\"; empty without an error.")
    failing = serializers.CharField(help_text="How long it has been failing, in words.")


class AccountSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="address", read_only=True)
    owner_id = serializers.IntegerField(read_only=True)
    has_password = serializers.BooleanField(read_only=True,
                                            help_text="The password itself is never returned.")
    push = serializers.BooleanField(read_only=True, help_text=PUSH_HELP)
    status = serializers.SerializerMethodField()

    class Meta:
        model = RemoteAccount
        fields = ["id", "owner", "owner_id", *ACCOUNT_FIELDS, "has_password",
                  *STAFF_ACCOUNT_FIELDS[1:], "created", "status"]
        read_only_fields = fields

    def get_status(self, account) -> AccountStatusSerializer:
        # The next step is worded for the reader: "ask an administrator" when they may
        # not change the account themselves, as on the pages.
        request = self.context.get("request")
        may_reconnect = request is not None and may_connect(request.user, account)
        why = explain.explain(account.last_error, account.host, may_reconnect)
        return {
            "result": account.last_status or "",
            "last_check": account.last_check,
            "next_check": account.next_check if account.enabled else None,
            "last_error": account.last_error,
            "error_summary": why.summary if why else "",
            "next_step": why.next_step if why else "",
            "who": why.who if why else "",
            "failing": account.failure_summary,
        }


class AccountWriteSerializer(serializers.ModelSerializer):
    """Fields a user's token may set; a whole-installation token may set the admin's too
    (owner, network_restricted, verify_tls, mode, max_message_mb, delivery_target,
    folder_map). Omitted fields keep their value."""

    password = serializers.CharField(write_only=True, required=False,
                                     help_text="Write-only. Empty or omitted: keep the "
                                               "stored one.")
    folders = serializers.ListField(child=serializers.CharField(), required=False)
    folder_map = serializers.DictField(child=serializers.CharField(), required=False)
    push = serializers.BooleanField(required=False, help_text=PUSH_HELP)

    class Meta:
        model = RemoteAccount
        fields = [*ACCOUNT_FIELDS, "password", *STAFF_ACCOUNT_FIELDS]
        extra_kwargs = {name: {"required": False} for name in fields}


class ProgressSerializer(serializers.Serializer):
    status = serializers.CharField(allow_null=True)
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    delivered = serializers.IntegerField()
    error = serializers.CharField()
    run_id = serializers.IntegerField(allow_null=True)
    started = serializers.CharField(allow_null=True)
    finished = serializers.CharField(allow_null=True)
    card = serializers.DictField(help_text="The account's card on the accounts page, as the "
                                           "page's live refresh receives it.")


class CheckSerializer(serializers.Serializer):
    queued = serializers.ListField(child=serializers.IntegerField(),
                                   help_text="Accounts a check was started for; empty when it "
                                             "is disabled, already queued or running, was "
                                             "checked a moment ago, or the service is "
                                             "stopped.")


class MailboxSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Mailbox
        fields = ["id", "address", "aliases", "quota_mb", "is_postmaster", "user", "user_id",
                  "delivery_target", "created"]
        read_only_fields = fields


class MailboxWriteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Mailbox
        fields = ["address", "aliases", "quota_mb", "is_postmaster", "user", "delivery_target"]
        extra_kwargs = {name: {"required": False} for name in fields}


class RunSerializer(serializers.ModelSerializer):
    class Meta:
        model = Run
        fields = ["id", "account", "account_label", "trigger", "status", "started", "finished",
                  "seen", "fetched", "delivered", "duplicates", "deleted", "failed", "bytes",
                  "total", "error", "attempt", "attempts", "next_try"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    mailbox = serializers.SlugRelatedField(slug_field="address", read_only=True)
    account = serializers.IntegerField(source="run.account_id", read_only=True,
                                       allow_null=True, default=None)

    class Meta:
        model = Delivery
        fields = ["id", "created", "message_id", "sender", "subject", "sent", "size",
                  "mailbox", "recipient", "folder", "backend", "result", "detail", "run",
                  "account"]
        read_only_fields = fields


class AlertSerializer(serializers.ModelSerializer):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = AlertEpisode
        fields = ["id", "kind", "kind_display", "key", "summary", "opened", "closed",
                  "account_ids"]
        read_only_fields = fields


class SettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = GlobalSettings
        exclude = ["id", "dispatch_backlog"]


class TokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "scope", "writes", "staff", "created", "expires",
                  "last_used"]
        read_only_fields = fields
