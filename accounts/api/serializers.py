from rest_framework import serializers

from accounts.models import User


class UserOutput(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "name",
            "role",
            "verified",
            "is_active",
            "is_staff",
            "totp_enabled",
            "settings",
            "created_at",
            "updated_at",
            "last_login",
        ]
        read_only_fields = fields


class LoginInput(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)
    otp = serializers.CharField(max_length=12, required=False, allow_blank=True)


class TokenOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    access_expires_at = serializers.DateTimeField()
    user = UserOutput()
