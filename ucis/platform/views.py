"""Staff UI pages of the platform: sign-in (password + optional TOTP), home, audit search."""

from __future__ import annotations

from datetime import datetime, time

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.forms import OTPAuthenticationForm
from django_otp.plugins.otp_totp.models import TOTPDevice

from ucis.platform import audit, otp, selectors


class StaffLoginForm(OTPAuthenticationForm):
    """Username and password; the one-time code is required only for staff who enrolled TOTP."""

    otp_device = forms.CharField(required=False, widget=forms.HiddenInput)
    otp_challenge = forms.CharField(required=False, widget=forms.HiddenInput)
    otp_token = forms.CharField(required=False, label=_("One-time code (if enrolled)"),
                                widget=forms.TextInput(attrs={"autocomplete": "one-time-code",
                                                              "inputmode": "numeric"}))


    def clean_otp(self, user):
        # TOTP is optional per staff member: demand a code only from those who enrolled one.
        if user is None:
            return
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            return
        # Staff hold at most one TOTP device, so the form need not ask which one.
        self.cleaned_data["otp_device"] = device.persistent_id
        super().clean_otp(user)


    def _update_form(self, user):
        # django-otp echoes the password back into the form after a failed step; counter PCs are
        # shared, so the password is never rendered into the page.
        super()._update_form(user)
        self.fields["password"].widget.render_value = False


class StaffLoginView(auth_views.LoginView):
    authentication_form = StaffLoginForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True


class PasswordChange(auth_views.PasswordChangeView):
    template_name = "registration/password_change.html"
    success_url = reverse_lazy("home")

    def form_valid(self, form):
        messages.success(self.request, _("Your password was changed."))
        return super().form_valid(form)


@login_required
def home(request):
    return render(request, "platform/home.html", {"summary": selectors.home_summary(actor=request.user)})


class OtpConfirmForm(forms.Form):
    token = forms.CharField(label=_("Code shown by your authenticator app"), max_length=8)


@login_required
def otp_setup(request):
    form = OtpConfirmForm(request.POST or None)
    if request.method == "POST" and request.POST.get("action") == "remove":
        otp.totp_remove(user=request.user)
        messages.success(request, _("Two-factor sign-in was turned off."))
        return redirect("otp_setup")
    if request.method == "POST" and form.is_valid():
        if otp.totp_confirm(user=request.user, token=form.cleaned_data["token"]):
            messages.success(request, _("Two-factor sign-in is on. You will be asked for a code at sign-in."))
            return redirect("home")
        form.add_error("token", _("The code is not valid; check the time on your phone and try again."))
    state = otp.totp_state(user=request.user)
    return render(request, "platform/otp_setup.html", {"form": form, **state})


class AuditSearchForm(forms.Form):
    model = forms.ChoiceField(label=_("Record type"), required=False)
    user = forms.CharField(label=_("Changed by"), required=False)
    object_id = forms.CharField(label=_("Record id"), required=False)
    text = forms.CharField(label=_("Contains"), required=False)
    label = forms.ChoiceField(label=_("Change"), required=False, choices=[
        ("", "—"), ("insert", _("created")), ("update", _("changed")), ("delete", _("deleted"))])
    since = forms.DateField(label=_("Since"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("To (inclusive)"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [("", "—")] + sorted(
            (label, str(m.pgh_tracked_model._meta.verbose_name)) for label, m in audit.audited_labels().items())


@login_required
@permission_required("org.view_audit", raise_exception=True)
def audit_search_view(request):
    form = AuditSearchForm(request.GET or None)
    entries = []
    if form.is_valid():
        data = form.cleaned_data
        tz = timezone.get_current_timezone()
        since = datetime.combine(data["since"], time.min, tz) if data["since"] else None
        until = (datetime.combine(data["until"], time.min, tz) + timezone.timedelta(days=1)
                 if data["until"] else None)
        entries = audit.audit_search(actor=request.user, model=data["model"] or None,
                                     username=data["user"] or None, object_id=data["object_id"] or None,
                                     text=data["text"] or None, label=data["label"] or None,
                                     since=since, until=until)
    elif not request.GET:
        entries = audit.audit_search(actor=request.user, limit=50)
    return render(request, "platform/audit_search.html", {"form": form, "entries": entries})
