// The offer-set calls of the REST API ("find me a slot", booking_service/openapi.yaml's
// `offers` tag) and a booking's recorded lifecycle: types and calls, on the page's Api.

import type { Api, Booking } from "./api";
import type { StepRequest } from "./steps";

/** One move of a booking's phase, as GET /bookings/{id} lists them, oldest first. */
export interface Transition {
  from: string | null; // null: the booking's first phase
  to: string;
  at: string;
  cause: string;
  by: string;
}

export interface Offer extends Booking {
  index: number; // its place in the set: `n` of POST /offersets/{id}/offers/{n}
  duration: string; // ISO 8601
  platform?: string; // the platform it comes from (BookingService.platforms)
}

export interface OfferSet {
  id: number;
  user: string;
  created: string;
  expires: string;
  result: "YES" | "NO";
  messages: string[];
  offers: Offer[];
  nearest?: string | null; // POST's answer only: for a NO, the earliest later start that fits
}

export interface OfferRequest {
  what: { package: string };
  when: { start: string[] }; // ISO 8601 intervals in which the session must start
  duration: { min: string; max?: string };
  pools?: string[];
  steps?: StepRequest[]; // preparation steps (steps.ts): offers start once they can be done
}

/** A platform offers come from (GET /platforms): this service's pools, another booking
 * service, or OpenStack Blazar. */
export interface Platform {
  name: string;
  kind: "local" | "remote" | "blazar";
}

export async function platforms(api: Api): Promise<Platform[]> {
  return (await api.call<{ platforms: Platform[] }>("GET", "platforms")).platforms;
}

export function findOffers(api: Api, request: OfferRequest): Promise<OfferSet> {
  return api.call("POST", "offersets", request);
}

export function offerSet(api: Api, id: number): Promise<OfferSet> {
  return api.call("GET", `offersets/${id}`);
}

/** Accept offer `index` (it becomes a booking; its siblings are rejected) or decline it. */
export function answerOffer(api: Api, id: number, index: number, phase: "ACCEPTED" | "REJECTED"): Promise<Offer & { transitions: Transition[] }> {
  return api.call("POST", `offersets/${id}/offers/${index}`, { phase });
}

export function bookingHistory(api: Api, id: number): Promise<Booking & { transitions: Transition[] }> {
  return api.call("GET", `bookings/${id}`);
}

/** An ISO 8601 duration of whole minutes: 1.5 hours is PT90M. */
export function isoMinutes(hours: number): string {
  return `PT${Math.round(hours * 60)}M`;
}
