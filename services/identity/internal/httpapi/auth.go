package httpapi

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"amancair.dev/pkg/httpserver"
	"amancair.dev/pkg/validation"
	"amancair.dev/services/identity/internal/identity"
)

type authHandler struct {
	login *identity.Login
	keys  KeySet
}

type otpRequest struct {
	Phone *string `json:"phone"`
}

type tokenRequest struct {
	Phone *string `json:"phone"`
	Code  *string `json:"code"`
}

type refreshRequest struct {
	RefreshToken *string `json:"refresh_token"`
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

func required(fields map[string]*string) error {
	var errs validation.Errors
	for _, name := range []string{"phone", "code", "refresh_token"} {
		if v, ok := fields[name]; ok && (v == nil || *v == "") {
			errs.Add(name, "is required")
		}
	}
	return errs.Err()
}

func (h *authHandler) requestCode(c *fiber.Ctx) error {
	var req otpRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	if err := required(map[string]*string{"phone": req.Phone}); err != nil {
		return err
	}
	if err := h.login.RequestCode(c.UserContext(), *req.Phone, httpserver.ClientIP(c)); err != nil {
		return err
	}
	return httpserver.JSON(c, http.StatusAccepted, fiber.Map{"expires_in": int(h.login.CodeTTL().Seconds())})
}

func (h *authHandler) token(c *fiber.Ctx) error {
	var req tokenRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	if err := required(map[string]*string{"phone": req.Phone, "code": req.Code}); err != nil {
		return err
	}
	tokens, err := h.login.ExchangeCode(c.UserContext(), *req.Phone, *req.Code, httpserver.ClientIP(c))
	if err != nil {
		return err
	}
	return writeTokens(c, tokens)
}

func (h *authHandler) refresh(c *fiber.Ctx) error {
	var req refreshRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	if err := required(map[string]*string{"refresh_token": req.RefreshToken}); err != nil {
		return err
	}
	tokens, err := h.login.Refresh(c.UserContext(), *req.RefreshToken, httpserver.ClientIP(c))
	if err != nil {
		return err
	}
	return writeTokens(c, tokens)
}

func (h *authHandler) logout(c *fiber.Ctx) error {
	var req refreshRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	if err := required(map[string]*string{"refresh_token": req.RefreshToken}); err != nil {
		return err
	}
	if err := h.login.Logout(c.UserContext(), *req.RefreshToken); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func writeTokens(c *fiber.Ctx, t identity.Tokens) error {
	c.Set(fiber.HeaderPragma, "no-cache")
	return httpserver.JSON(c, http.StatusOK, tokenResponse{
		AccessToken: t.AccessToken, TokenType: "Bearer", ExpiresIn: int(t.ExpiresIn.Seconds()), RefreshToken: t.RefreshToken,
	})
}

func (h *authHandler) jwks(c *fiber.Ctx) error {
	set, err := h.keys.JWKS(c.UserContext())
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=60")
	return httpserver.JSON(c, http.StatusOK, set)
}
