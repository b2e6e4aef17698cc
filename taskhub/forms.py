from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.core.files.uploadedfile import UploadedFile

from taskhub import thumbnails


class SignupForm(UserCreationForm):
    """Username, email, password. Django's validators refuse CR/LF in the username and
    the address, which is what keeps them from injecting email headers."""

    email = forms.EmailField(required=True)

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("A user with that email already exists.")
        return email


class ImageUploadForm(forms.Form):
    file = forms.FileField(allow_empty_file=False)

    def clean_file(self) -> UploadedFile:
        """Read the header only: refuse what is not an image, or is a decompression bomb."""
        upload = self.cleaned_data["file"]
        try:
            with thumbnails.open_checked(upload) as header:
                self.cleaned_data["format"] = header.format
        except thumbnails.ThumbnailError as exc:
            raise forms.ValidationError(str(exc)) from exc
        finally:
            upload.seek(0)
        return upload
